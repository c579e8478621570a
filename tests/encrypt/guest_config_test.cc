#include "src/guest/guest_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "guestfs/inspect.h"

namespace vhdcrypt {
namespace {

TEST(RewriteFstab, ReplacesOnlyTheDeviceFieldOfTheGivenLines) {
  const std::vector<std::string> in = {
      "# /etc/fstab",
      "UUID=1111 /     ext4 defaults 0 1",
      "\tUUID=2222\t/data\txfs\tdefaults,nofail\t0 2  # keep me",
      "LABEL=logs /logs ext4 defaults,nofail 0 2",
  };
  auto out = RewriteFstab(in, {{3, "/dev/mapper/luks-a"}, {4, "/dev/mapper/luks-b"}, {99, "/dev/x"}});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], in[0]);
  EXPECT_EQ(out[1], in[1]);
  EXPECT_EQ(out[2], "\t/dev/mapper/luks-a\t/data\txfs\tdefaults,nofail\t0 2  # keep me");
  EXPECT_EQ(out[3], "/dev/mapper/luks-b /logs ext4 defaults,nofail 0 2");
}

// The parser splits fields on CR too (kBlanks): the editor must replace the
// field the parser read, not "/dev/sdb2\r/data2" (the mount point was lost;
// found by guest_fuzz's parse-edit-parse round trip).
TEST(RewriteFstab, SplitsFieldsWhereTheParserDoes) {
  const std::vector<std::string> in = {"/dev/sdb2\r/data2 xfs defaults 0 0", "\r/dev/sdb3 /data3 ext4 defaults 0 0"};
  auto out = RewriteFstab(in, {{1, "/dev/mapper/luks-a"}, {2, "/dev/mapper/luks-b"}});
  EXPECT_EQ(out[0], "/dev/mapper/luks-a\r/data2 xfs defaults 0 0");
  EXPECT_EQ(out[1], "\r/dev/mapper/luks-b /data3 ext4 defaults 0 0");
  const auto parsed = guest::ParseFstab(out);
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0].file, "/data2");
  EXPECT_EQ(parsed[1].spec, "/dev/mapper/luks-b");
}

TEST(ComposeCrypttab, ReplacesTheLineTheParserNames) {
  const std::string text = ComposeCrypttab({"luks-ff\rUUID=old none luks"}, {{"luks-ff", "ff", "none", "luks"}});
  EXPECT_EQ(text, "# volumes encrypted by vhdcrypt\nluks-ff UUID=ff none luks\n");
}

TEST(AddBootToFstab, MountsTheNewBootRightAfterRoot) {
  const std::vector<std::string> in = {"# fstab", "UUID=r / ext4 errors=remount-ro 0 1",
                                       "UUID=E5 /boot/efi vfat umask=0077 0 1"};
  auto out = AddBootToFstab(in, 2, "b00t");
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[1], in[1]);
  EXPECT_EQ(out[2].rfind("# ", 0), 0u);
  EXPECT_EQ(out[3], "UUID=b00t /boot ext4 defaults 0 2");
  EXPECT_EQ(out[4], in[2]);
  // Root's line unknown: appended.
  auto tail = AddBootToFstab(in, 0, "b00t");
  ASSERT_EQ(tail.size(), 5u);
  EXPECT_EQ(tail[4], "UUID=b00t /boot ext4 defaults 0 2");
}

TEST(OsCrypttabVolumeDracut, DetachedHeaderAndTheKeyFileOnTheKeyVolume) {
  const std::string line = ComposeCrypttab({}, {OsCrypttabVolumeDracut({true, "deb12001-02", "ignored"})});
  EXPECT_NE(line.find("osencrypt /dev/disk/by-partuuid/deb12001-02 "
                      "/LinuxPassPhraseFileName:/dev/disk/by-label/BEK\\x20VOLUME "
                      "luks,header=/boot/luks/osluksheader,x-initrd.attach,force,tries=1\n"),
            std::string::npos)
      << line;
}

// With the header attached the volume is found by its LUKS UUID, as any
// LUKS volume, and no header= names a file.
TEST(OsCrypttabVolume, AttachedHeaderNamesTheLuksUuid) {
  const OsVolumeRef attached{false, "deb12001-02", "0a0b0c0d-1111-4222-8333-444455556666"};
  EXPECT_EQ(ComposeCrypttab({}, {OsCrypttabVolume(attached)}),
            "# volumes encrypted by vhdcrypt\n"
            "osencrypt UUID=0a0b0c0d-1111-4222-8333-444455556666 none "
            "luks,keyscript=/usr/lib/vhdcrypt/bek-keyscript,initramfs,tries=1\n");
  EXPECT_EQ(ComposeCrypttab({}, {OsCrypttabVolumeDracut(attached)}),
            "# volumes encrypted by vhdcrypt\n"
            "osencrypt UUID=0a0b0c0d-1111-4222-8333-444455556666 "
            "/LinuxPassPhraseFileName:/dev/disk/by-label/BEK\\x20VOLUME luks,x-initrd.attach,force,tries=1\n");
}

TEST(DracutConfText, ModulesDriversAndFilesForTheInitramfs) {
  const std::string plain = DracutConfText(false, {}, true);
  EXPECT_NE(plain.find("add_dracutmodules+=\" crypt dm rootfs-block \"\n"), std::string::npos) << plain;
  EXPECT_NE(plain.find("install_items+=\" /etc/crypttab /boot/luks/osluksheader \"\n"), std::string::npos);
  const std::string attached = DracutConfText(false, {}, false);
  EXPECT_NE(attached.find("install_items+=\" /etc/crypttab \"\n"), std::string::npos) << attached;
  EXPECT_EQ(attached.find("osluksheader"), std::string::npos) << attached;
  for (const char* m : {"dm_crypt", "vfat", "nls_cp437", "nls_iso8859_1", "nls_utf8"}) {
    EXPECT_NE(plain.find(std::string(" ") + m + " "), std::string::npos) << m;
  }
  EXPECT_NE(DracutConfText(true, {}, true).find(" crypt dm rootfs-block lvm \""), std::string::npos);
  EXPECT_EQ(plain.find("hv_storvsc"), std::string::npos);
  const std::string azure = DracutConfText(false, {"hv_vmbus", "hv_storvsc"}, true);
  EXPECT_NE(azure.find("add_drivers+=\" hv_vmbus hv_storvsc \"\n"), std::string::npos) << azure;
  // Every line is a comment or a shell assignment (dracut sources the file).
  std::istringstream in(plain);
  for (std::string l; std::getline(in, l);) EXPECT_TRUE(l[0] == '#' || l.find("+=\" ") != std::string::npos) << l;
}

TEST(ComposeCrypttab, KeepsExistingLinesAndAppendsOnePerVolume) {
  const std::string text =
      ComposeCrypttab({"# <target name> <source device> <key file> <options>", "swap /dev/sda2 /dev/urandom swap"},
                      {{MapperName("0d0e"), "0d0e", "none", "luks,nofail"}, {"luks-ff", "ff", "none", "luks,nofail"}});
  EXPECT_EQ(text,
            "# <target name> <source device> <key file> <options>\n"
            "swap /dev/sda2 /dev/urandom swap\n"
            "# volumes encrypted by vhdcrypt\n"
            "luks-0d0e UUID=0d0e none luks,nofail\n"
            "luks-ff UUID=ff none luks,nofail\n");
}

// A second run over an already edited guest replaces its lines rather than
// adding a second "osencrypt".
TEST(ComposeCrypttab, ReplacesLinesOfTheSameName) {
  const std::string text = ComposeCrypttab(
      {"swap /dev/sda2 /dev/urandom swap", "# volumes encrypted by vhdcrypt", "osencrypt /dev/old none luks"},
      {OsCrypttabVolume({true, "0a1b2c3d-02", ""})});
  EXPECT_EQ(text,
            "swap /dev/sda2 /dev/urandom swap\n"
            "# volumes encrypted by vhdcrypt\n"
            "osencrypt /dev/disk/by-partuuid/0a1b2c3d-02 none "
            "luks,header=/boot/luks/osluksheader,keyscript=/usr/lib/vhdcrypt/bek-keyscript,initramfs,tries=1\n");
}

TEST(DataVolumeKeyField, NamesTheKeyVolumeByItsUdevLink) {
  EXPECT_EQ(DataVolumeKeyField(), "/LinuxPassPhraseFileName:/dev/disk/by-label/BEK\\x20VOLUME");
  EXPECT_EQ(DataVolumeKeyField().find(' '), std::string::npos);  // one crypttab field
}

TEST(InitramfsModulesText, AppendsWhatIsMissingOnce) {
  EXPECT_EQ(InitramfsModulesText({"# modules", "vfat", "dm_crypt  # already"}),
            "# modules\nvfat\ndm_crypt  # already\nnls_cp437\nnls_ascii\nnls_utf8\nnls_iso8859_1\n");
  const std::string once = InitramfsModulesText({});
  std::vector<std::string> lines;
  for (size_t b = 0, e; b < once.size(); b = e + 1) {
    e = once.find('\n', b);
    lines.push_back(once.substr(b, e - b));
  }
  EXPECT_EQ(InitramfsModulesText(lines), once);
}

// The scripts run in the initramfs: /bin/sh must parse them, and they name
// the paths the crypttab line and the key volume use.
TEST(InitramfsScripts, ParseAndAgreeWithCrypttab) {
  for (const std::string& text : {KeyscriptText(), InitramfsHookText()}) {
    EXPECT_EQ(text.rfind("#!/bin/sh\n", 0), 0u);
    const std::string path = ::testing::TempDir() + "/vhdcrypt-script.sh";
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
    EXPECT_EQ(std::system(("sh -n " + path).c_str()), 0) << text;
    std::remove(path.c_str());
  }
  EXPECT_NE(KeyscriptText().find("'/dev/disk/by-label/BEK\\x20VOLUME'"), std::string::npos);
  EXPECT_NE(KeyscriptText().find("LinuxPassPhraseFileName"), std::string::npos);
  EXPECT_NE(InitramfsHookText().find(kOsHeaderPath), std::string::npos);
  // The cipher's modules and the target's disk drivers go in whatever MODULES says.
  EXPECT_NE(InitramfsHookText().find("for m in xts aes_generic aesni_intel"), std::string::npos);
  EXPECT_NE(InitramfsHookText().find("for m in hv_vmbus hv_storvsc nvme virtio_pci virtio_blk virtio_scsi sd_mod; do\n"
                                     "  manual_add_modules \"$m\""),
            std::string::npos)
      << InitramfsHookText();
}

TEST(EditKernelCmdline, DropsWhatStopsTheUnlockAndPointsRootAtTheMapping) {
  const CmdlineEdit edit{"0A1B2C3D-0002", "/dev/mapper/osencrypt"};
  std::vector<std::string> changes;
  EXPECT_EQ(EditKernelCmdline("ro  rd.luks=0 console=ttyS0 root=PARTUUID=0a1b2c3d-0002 luks.crypttab=no quiet", edit,
                              &changes),
            "ro console=ttyS0 root=/dev/mapper/osencrypt quiet");
  EXPECT_EQ(changes,
            (std::vector<std::string>{"removed rd.luks=0", "root=PARTUUID=0a1b2c3d-0002 -> root=/dev/mapper/osencrypt",
                                      "removed luks.crypttab=no"}));
  changes.clear();
  // Other partitions, filesystem UUIDs, other rd.luks options and LVM roots stay.
  const std::string keep = "root=UUID=1234 rd.luks.uuid=abcd rd.luks=1 rd.lvm.lv=vg0/root root=PARTUUID=0a1b2c3d-0003";
  EXPECT_EQ(EditKernelCmdline(keep, edit, &changes), keep);
  EXPECT_EQ(EditKernelCmdline("root=/dev/disk/by-partuuid/0a1b2c3d-0002", {"0a1b2c3d-0002", ""}, &changes),
            "root=/dev/disk/by-partuuid/0a1b2c3d-0002");
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(EditKernelCmdline("root=/dev/disk/by-partuuid/0a1b2c3d-0002", edit, nullptr), "root=/dev/mapper/osencrypt");
}

TEST(EditGrubDefaults, EditsTheCmdlineAssignmentsOnly) {
  const CmdlineEdit edit{"p-1", "/dev/mapper/osencrypt"};
  const std::vector<std::string> in = {
      "# rd.luks=0 in a comment stays",
      "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet rd.luks=0\"",
      "  export GRUB_CMDLINE_LINUX='console=ttyS0 rd.luks.crypttab=0'  # serial",
      "GRUB_CMDLINE_LINUX=rd.luks=no",
      "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX root=PARTUUID=p-1\"",
      "GRUB_CMDLINE_LINUX=\"unterminated rd.luks=0",
      "GRUB_TIMEOUT=0",
  };
  std::vector<std::string> changes;
  auto out = EditGrubDefaults(in, edit, &changes);
  ASSERT_EQ(out.size(), in.size());
  EXPECT_EQ(out[0], in[0]);
  EXPECT_EQ(out[1], "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"");
  EXPECT_EQ(out[2], "  export GRUB_CMDLINE_LINUX='console=ttyS0'  # serial");
  EXPECT_EQ(out[3], "GRUB_CMDLINE_LINUX=\"\"");
  EXPECT_EQ(out[4], "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX root=/dev/mapper/osencrypt\"");
  EXPECT_EQ(out[5], in[5]);
  EXPECT_EQ(out[6], in[6]);
  EXPECT_EQ(changes.size(), 4u);
}

TEST(JoinLines, EndsWithANewline) {
  EXPECT_EQ(JoinLines({"a", "b"}), "a\nb\n");
  EXPECT_EQ(JoinLines({}), "");
}

}  // namespace
}  // namespace vhdcrypt
