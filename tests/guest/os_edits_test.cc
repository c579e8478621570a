// The guest edit steps (src/guest/os_edits.h) on an in-memory guest: which
// files each writes, which guest programs it runs, in which order. The boot
// tests (tests/integration/encrypt_os.sh) stay the end-to-end proof.
#include "src/guest/os_edits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/guest/fake_guest.h"

namespace vhdcrypt {
namespace {

using test::FakeGuest;

constexpr char kPartuuid[] = "0fc63daf-8483-4772-8e79-3d69d8477de4";

guest::FstabEntry Entry(int line, const std::string& spec, const std::string& file) {
  guest::FstabEntry e;
  e.line = line;
  e.spec = spec;
  e.file = file;
  return e;
}

// A Debian-like guest: / on sda1 with /boot inside it, a data volume on sdb1.
guest::Facts DebianFacts() {
  guest::Facts f;
  f.os.found = true;
  f.os.root = "/dev/sda1";
  f.initramfs_tool = "initramfs-tools";
  f.fstab = {Entry(1, "UUID=root", "/"), Entry(2, "UUID=data", "/data")};
  guest::Kernel k;
  k.version = "6.1.0-13-amd64";
  for (const char* m : guest::kBootStorageDrivers) k.modules[m].loadable = true;
  f.kernels = {k};
  return f;
}

void AddDebianFiles(FakeGuest& g) {
  g.AddFile("/etc/fstab", "UUID=root / ext4 defaults 0 1\nUUID=data /data ext4 defaults,nofail 0 2\n");
  g.AddFile("/etc/default/grub", "GRUB_CMDLINE_LINUX=\"root=PARTUUID=" + std::string(kPartuuid) + " quiet\"\n");
  g.AddFile("/boot/vmlinuz-6.1.0-13-amd64", "kernel");
  g.AddDir("/boot/efi");
  g.AddDir("/usr/lib/grub/i386-pc");
  g.on_command = [](const std::vector<std::string>& argv) -> Result<std::string> {
    if (argv[0] == "sh" && argv.back().find("command -v") != std::string::npos)
      return std::string("/usr/sbin/update-grub\n");
    return std::string();
  };
}

GuestEdits DataOnly() {
  GuestEdits e;
  e.fstab_specs = {{2, "/dev/mapper/luks-d"}};
  e.crypttab = {{"luks-d", "d", DataVolumeKeyField(), "luks,nofail", ""}};
  return e;
}

GuestEdits WithOsVolume(const std::vector<uint8_t>* header) {
  GuestEdits e = DataOnly();
  e.fstab_specs[1] = std::string("/dev/mapper/") + kOsMapperName;
  e.crypttab.insert(e.crypttab.begin(),
                    OsCrypttabVolume({header != nullptr, kPartuuid, "0a0b0c0d-0000-4000-8000-0000000000f1"}));
  e.os_volume = true;
  e.os_header = header;
  e.os_partuuid = kPartuuid;
  e.table = TableKind::kMbr;
  return e;
}

bool RanWith(const FakeGuest& g, const std::string& program, const std::string& arg) {
  for (const auto& c : g.Ran(program)) {
    if (std::find(c.begin(), c.end(), arg) != c.end()) return true;
  }
  return false;
}

TEST(GuestEditSteps, RunInTheDocumentedOrder) {
  std::vector<std::string> names;
  for (const auto& s : GuestEditSteps()) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"move-boot", "fstab", "crypttab", "os-unlock", "kernel-cmdline",
                                             "boot-loader", "selinux"}));
}

TEST(GuestEdits, DataVolumesOnlyTouchFstabAndCrypttab) {
  FakeGuest g;
  AddDebianFiles(g);
  const guest::Facts facts = DebianFacts();
  ASSERT_TRUE(ApplyGuestEdits(g, facts, DataOnly()).ok());
  EXPECT_EQ(g.files["/etc/fstab"],
            "UUID=root / ext4 defaults 0 1\n/dev/mapper/luks-d /data ext4 defaults,nofail 0 2\n");
  EXPECT_NE(g.files["/etc/crypttab"].find("luks-d UUID=d"), std::string::npos) << g.files["/etc/crypttab"];
  EXPECT_TRUE(g.commands.empty()) << "no initramfs or boot loader work for data volumes";
  EXPECT_FALSE(g.files.count("/boot/luks/osluksheader"));
  ASSERT_FALSE(g.mounts.empty());
  EXPECT_EQ(g.mounts.front(), std::make_pair(std::string("/dev/sda1"), std::string("/")));
  EXPECT_EQ(g.mounts.back().first, "umount-all");
}

TEST(GuestEdits, OsVolumeWithInitramfsTools) {
  FakeGuest g;
  AddDebianFiles(g);
  guest::Facts facts = DebianFacts();
  facts.separate_boot = true;
  facts.boot_device = "/dev/sda2";
  const std::vector<uint8_t> header = {'L', 'U', 'K', 'S'};
  ASSERT_TRUE(ApplyGuestEdits(g, facts, WithOsVolume(&header)).ok());
  EXPECT_EQ(g.files[kOsHeaderPath], "LUKS");
  EXPECT_EQ(g.modes[kOsHeaderPath], 0600);
  EXPECT_EQ(g.files[kKeyscriptPath], KeyscriptText());
  EXPECT_EQ(g.modes[kKeyscriptPath], 0755);
  EXPECT_EQ(g.files[kInitramfsHookPath], InitramfsHookText());
  EXPECT_NE(g.files[kInitramfsModulesPath].find("dm_crypt"), std::string::npos);
  EXPECT_TRUE(RanWith(g, "update-initramfs", "all"));
  EXPECT_TRUE(g.Ran("dracut").empty());
  EXPECT_EQ(g.Ran("update-grub").size(), 1u);
  EXPECT_TRUE(g.Ran("grub-install").empty()) << "/boot did not move";
  // root=PARTUUID= of the now encrypted partition names the mapping.
  EXPECT_NE(g.files["/etc/default/grub"].find("root=/dev/mapper/osencrypt"), std::string::npos)
      << g.files["/etc/default/grub"];
  EXPECT_EQ(g.files["/etc/fstab"].rfind("/dev/mapper/osencrypt / ext4", 0), 0u) << g.files["/etc/fstab"];
  // The OS volume's crypttab line comes first.
  EXPECT_EQ(g.files["/etc/crypttab"].find("osencrypt"), g.files["/etc/crypttab"].find(kOsMapperName));
  EXPECT_LT(g.files["/etc/crypttab"].find("osencrypt"), g.files["/etc/crypttab"].find("luks-d"));
  EXPECT_EQ(g.mounts[1], std::make_pair(std::string("/dev/sda2"), std::string("/boot")));
}

TEST(GuestEdits, OsVolumeWithDracut) {
  FakeGuest g;
  AddDebianFiles(g);
  guest::Facts facts = DebianFacts();
  facts.initramfs_tool = "dracut";
  facts.separate_boot = true;
  facts.boot_device = "/dev/sda2";
  const std::vector<uint8_t> header = {1, 2, 3};
  ASSERT_TRUE(ApplyGuestEdits(g, facts, WithOsVolume(&header)).ok());
  EXPECT_TRUE(g.files.count(kDracutConfPath));
  EXPECT_NE(g.files[kDracutConfPath].find("virtio_blk"), std::string::npos) << "drivers every kernel has";
  EXPECT_TRUE(RanWith(g, "dracut", "--regenerate-all"));
  EXPECT_TRUE(g.Ran("update-initramfs").empty());
  EXPECT_FALSE(g.files.count(kKeyscriptPath));
}

// --os-header attached: the same unlocking, but no header file anywhere.
TEST(GuestEdits, OsVolumeWithItsHeaderAttached) {
  for (const char* tool : {"initramfs-tools", "dracut"}) {
    FakeGuest g;
    AddDebianFiles(g);
    guest::Facts facts = DebianFacts();
    facts.initramfs_tool = tool;
    facts.separate_boot = true;
    facts.boot_device = "/dev/sda2";
    ASSERT_TRUE(ApplyGuestEdits(g, facts, WithOsVolume(nullptr)).ok()) << tool;
    EXPECT_FALSE(g.files.count(kOsHeaderPath)) << tool;
    EXPECT_FALSE(g.dirs.count("/boot/luks")) << tool;
    EXPECT_NE(g.files["/etc/crypttab"].find("osencrypt UUID=0a0b0c0d-0000-4000-8000-0000000000f1 none luks,keyscript"),
              std::string::npos)
        << g.files["/etc/crypttab"];
    EXPECT_EQ(g.files["/etc/crypttab"].find("header="), std::string::npos) << g.files["/etc/crypttab"];
    EXPECT_NE(g.files["/etc/default/grub"].find("root=/dev/mapper/osencrypt"), std::string::npos) << tool;
    EXPECT_EQ(g.Ran("update-grub").size(), 1u) << tool;
    if (std::string(tool) == "dracut") {
      EXPECT_TRUE(RanWith(g, "dracut", "--regenerate-all"));
      EXPECT_EQ(g.files[kDracutConfPath].find("osluksheader"), std::string::npos) << g.files[kDracutConfPath];
    } else {
      EXPECT_TRUE(RanWith(g, "update-initramfs", "all"));
      EXPECT_EQ(g.files[kKeyscriptPath], KeyscriptText());
    }
  }
}

TEST(GuestEdits, BootMovesOutOfRootAndGrubIsReinstalledForBios) {
  FakeGuest g;
  AddDebianFiles(g);
  const guest::Facts facts = DebianFacts();
  const std::vector<uint8_t> header = {1};
  GuestEdits e = WithOsVolume(&header);
  e.new_boot_device = "/dev/sda3";
  ASSERT_TRUE(ApplyGuestEdits(g, facts, e).ok());
  EXPECT_EQ(g.mkfs, (std::vector<std::string>{"ext4 /dev/sda3 boot"}));
  // The staging copy holds /boot's files; /boot itself was emptied, then
  // the new filesystem mounted on it.
  EXPECT_TRUE(g.files.count("/.vhdcrypt-boot/vmlinuz-6.1.0-13-amd64"));
  EXPECT_FALSE(g.files.count("/boot/vmlinuz-6.1.0-13-amd64"));
  EXPECT_NE(std::find(g.mounts.begin(), g.mounts.end(), std::make_pair(std::string("/dev/sda3"), std::string("/boot"))),
            g.mounts.end());
  EXPECT_NE(g.files["/etc/fstab"].find("UUID=uuid-of/dev/sda3 /boot ext4"), std::string::npos) << g.files["/etc/fstab"];
  const auto shells = g.Ran("sh");  // the BIOS grub-install, then update-grub looked up
  ASSERT_EQ(shells.size(), 2u);
  EXPECT_NE(shells[0].back().find("grub-install --target=i386-pc"), std::string::npos) << shells[0].back();
  EXPECT_EQ(g.Ran("update-grub").size(), 1u);
}

TEST(GuestEdits, BootMoveWithAnEspReinstallsGrubForUefiAndTheRemovablePath) {
  FakeGuest g;
  AddDebianFiles(g);
  g.dirs.erase("/usr/lib/grub/i386-pc");
  g.AddDir("/usr/lib/grub/x86_64-efi");
  g.devices["/dev/sda1"]["EFI/BOOT/BOOTX64.EFI"] = "shim";  // the ESP, mounted once /boot moved
  const guest::Facts facts = DebianFacts();
  const std::vector<uint8_t> header = {1};
  GuestEdits e = WithOsVolume(&header);
  e.new_boot_device = "/dev/sda4";
  e.esp_device = "/dev/sda1";
  e.table = TableKind::kGpt;
  ASSERT_TRUE(ApplyGuestEdits(g, facts, e).ok());
  EXPECT_NE(
      std::find(g.mounts.begin(), g.mounts.end(), std::make_pair(std::string("/dev/sda1"), std::string("/boot/efi"))),
      g.mounts.end());
  const auto installs = g.Ran("grub-install");
  ASSERT_EQ(installs.size(), 2u);
  EXPECT_TRUE(RanWith(g, "grub-install", "--target=x86_64-efi"));
  EXPECT_TRUE(RanWith(g, "grub-install", "--removable"));
}

TEST(GuestEdits, BootMoveWithoutAnyGrubFails) {
  FakeGuest g;
  AddDebianFiles(g);
  g.dirs.erase("/usr/lib/grub/i386-pc");
  const std::vector<uint8_t> header = {1};
  GuestEdits e = WithOsVolume(&header);
  e.new_boot_device = "/dev/sda3";
  auto st = ApplyGuestEdits(g, DebianFacts(), e);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kGuest);
  EXPECT_NE(st.error().message().find("no GRUB"), std::string::npos) << st.error().message();
}

TEST(GuestEdits, LvmRootKeepsRootOnTheLogicalVolume) {
  FakeGuest g;
  AddDebianFiles(g);
  g.files["/etc/default/grub"] = "GRUB_CMDLINE_LINUX=\"root=/dev/mapper/vg0-root rd.luks=0\"\n";
  guest::Facts facts = DebianFacts();
  facts.separate_boot = true;
  facts.boot_device = "/dev/sda1";
  facts.os.root = "/dev/vg0/root";
  const std::vector<uint8_t> header = {1};
  GuestEdits e = WithOsVolume(&header);
  e.fstab_specs.erase(1);
  e.os_lvm = true;
  ASSERT_TRUE(ApplyGuestEdits(g, facts, e).ok());
  EXPECT_EQ(g.files["/etc/default/grub"], "GRUB_CMDLINE_LINUX=\"root=/dev/mapper/vg0-root\"\n")
      << "rd.luks=0 dropped, root= kept";
  EXPECT_EQ(g.files["/etc/fstab"].rfind("UUID=root / ext4", 0), 0u);
}

TEST(GuestEdits, SelinuxLabelsAreRestoredWithTheGuestsSetfiles) {
  FakeGuest g;
  AddDebianFiles(g);
  g.AddFile("/etc/selinux/targeted/contexts/files/file_contexts", "");
  guest::Facts facts = DebianFacts();
  facts.selinux_mode = "Enforcing";
  facts.setfiles_installed = true;
  ASSERT_TRUE(ApplyGuestEdits(g, facts, DataOnly()).ok());
  const auto runs = g.Ran("setfiles");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_NE(std::find(runs[0].begin(), runs[0].end(), "/etc/crypttab"), runs[0].end());
  EXPECT_EQ(std::find(runs[0].begin(), runs[0].end(), "/etc/dracut.conf.d"), runs[0].end()) << "only what exists";
  EXPECT_FALSE(g.files.count("/.autorelabel"));
}

TEST(GuestEdits, SelinuxWithoutSetfilesAsksForARelabelAtBoot) {
  FakeGuest g;
  AddDebianFiles(g);
  guest::Facts facts = DebianFacts();
  facts.selinux_mode = "permissive";
  ASSERT_TRUE(ApplyGuestEdits(g, facts, DataOnly()).ok());
  EXPECT_TRUE(g.files.count("/.autorelabel"));
  EXPECT_TRUE(g.Ran("setfiles").empty());
}

TEST(GuestEdits, AFailingGuestProgramStopsTheEditsWithItsMessage) {
  FakeGuest g;
  AddDebianFiles(g);
  g.on_command = [](const std::vector<std::string>& argv) -> Result<std::string> {
    if (argv[0] == "update-initramfs") return Error(ErrorKind::kGuest, "E: no space left on /boot");
    return std::string();
  };
  guest::Facts facts = DebianFacts();
  facts.separate_boot = true;
  facts.boot_device = "/dev/sda2";
  const std::vector<uint8_t> header = {1};
  auto st = ApplyGuestEdits(g, facts, WithOsVolume(&header));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("update-initramfs in the guest failed: E: no space left"), std::string::npos)
      << st.error().message();
  EXPECT_TRUE(g.Ran("update-grub").empty()) << "nothing after the failed step";
}

}  // namespace
}  // namespace vhdcrypt
