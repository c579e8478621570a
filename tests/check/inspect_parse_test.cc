// The parsers inspect.cc applies to guest files, on text from real guests.
#include <gtest/gtest.h>

#include "guestfs/inspect.h"

namespace vhdcrypt::guest {
namespace {

TEST(ParseFstab, KeepsEveryFieldAndLineNumbers) {
  auto e = ParseFstab({"# /etc/fstab: static file system information.", "",
                       "UUID=1234-abcd /               ext4    errors=remount-ro 0       1",
                       "  /dev/sdb1\t/data xfs defaults,nofail 0 2", "tmpfs /tmp tmpfs"});
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].line, 3);
  EXPECT_EQ(e[0].spec, "UUID=1234-abcd");
  EXPECT_EQ(e[0].file, "/");
  EXPECT_EQ(e[0].vfstype, "ext4");
  EXPECT_EQ(e[0].options, "errors=remount-ro");
  EXPECT_EQ(e[0].passno, 1);
  EXPECT_EQ(e[1].line, 4);
  EXPECT_EQ(e[1].spec, "/dev/sdb1");
  EXPECT_EQ(e[1].options, "defaults,nofail");
  EXPECT_EQ(e[1].passno, 2);
  EXPECT_EQ(e[2].options, "defaults");  // missing fields take fstab's defaults
  EXPECT_EQ(e[2].freq, 0);
}

TEST(ParseCrypttab, ReadsNamesAndDevices) {
  auto e = ParseCrypttab({"# <target name> <source device> <key file> <options>",
                          "root_crypt UUID=aaaa none luks,discard", "swap /dev/sdb2 /dev/urandom swap"});
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].name, "root_crypt");
  EXPECT_EQ(e[0].device, "UUID=aaaa");
  EXPECT_EQ(e[0].keyfile, "none");
  EXPECT_EQ(e[0].options, "luks,discard");
  EXPECT_EQ(e[1].line, 3);
}

// A line of a form feed alone: Trim kept it, istream's >> found no field, and
// name = fields[0] read past the end (found by guest_fuzz). Fields are
// split on the blanks libmount and systemd split on, so \f and \v are field bytes.
TEST(ParseCrypttab, ALineOfOtherWhitespaceIsNotAnEmptyEntry) {
  auto e = ParseCrypttab({"\f", "\v", "x\fy /dev/sdb1\vz none"});
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].name, "\f");
  EXPECT_EQ(e[2].name, "x\fy");
  EXPECT_EQ(e[2].device, "/dev/sdb1\vz");
  auto f = ParseFstab({"\f\f", "/dev/sdb1\f/srv ext4"});
  ASSERT_EQ(f.size(), 1u);  // the first has one field: not an entry
  EXPECT_EQ(f[0].spec, "/dev/sdb1\f/srv");
  EXPECT_EQ(f[0].file, "ext4");
  auto m = ParseModprobe("x.conf", {"\f", "blacklist\fvfat"});
  EXPECT_TRUE(m.empty());
}

TEST(ParseModprobe, FindsBlacklistsAndInstallOverrides) {
  auto r = ParseModprobe(
      "/etc/modprobe.d/cis.conf",
      {"# CIS 1.1.1.x", "install vfat /bin/true", "install dm-crypt /bin/false", "blacklist nls_utf8",
       "options vfat shortname=mixed", "install usb-storage /sbin/modprobe --ignore-install usb-storage"});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].module, "vfat");
  EXPECT_EQ(r[0].kind, ModprobeRule::Kind::kInstallOverride);
  EXPECT_EQ(r[0].line, 2);
  EXPECT_EQ(r[1].module, "dm_crypt");  // canonical: dashes become underscores
  EXPECT_EQ(r[2].module, "nls_utf8");
  EXPECT_EQ(r[2].kind, ModprobeRule::Kind::kBlacklist);
  EXPECT_EQ(r[2].file, "/etc/modprobe.d/cis.conf");
}

TEST(OsRelease, UnquotesValues) {
  std::vector<std::string> lines = {"NAME=\"CBL-Mariner\"", "VERSION_ID=\"2.0\"", "ID=mariner"};
  EXPECT_EQ(OsReleaseValue(lines, "ID"), "mariner");
  EXPECT_EQ(OsReleaseValue(lines, "VERSION_ID"), "2.0");
  EXPECT_EQ(OsReleaseValue(lines, "PRETTY_NAME"), "");
}

TEST(AgentVersion, ReadsVersionPy) {
  EXPECT_EQ(AgentVersionFromSource({"import os", "AGENT_NAME = 'WALinuxAgent'", "AGENT_VERSION = '2.2.45'"}), "2.2.45");
  EXPECT_EQ(AgentVersionFromSource({"AGENT_VERSION = \"2.9.1.1\"  # comment"}), "2.9.1.1");
  EXPECT_EQ(AgentVersionFromSource({"nothing here"}), "");
}

TEST(ModuleName, FromDepAndBuiltinPaths) {
  EXPECT_EQ(ModuleNameFromPath("kernel/fs/fat/vfat.ko"), "vfat");
  EXPECT_EQ(ModuleNameFromPath("kernel/drivers/md/dm-crypt.ko.xz"), "dm_crypt");
  EXPECT_EQ(ModuleNameFromPath("kernel/fs/nls/nls_iso8859-1.ko.zst"), "nls_iso8859_1");
  EXPECT_EQ(ModuleNameFromPath("/lib/modules/6.1.0/kernel/fs/fat/fat.ko"), "fat");
}

}  // namespace
}  // namespace vhdcrypt::guest

#include "guestfs/version.h"

namespace vhdcrypt::guest {
namespace {

TEST(Version, ParsesLeadingDottedNumbersAndCompares) {
  EXPECT_EQ(ParseVersion("2.2.53.1"), (std::vector<uint64_t>{2, 2, 53, 1}));
  EXPECT_EQ(ParseVersion("WALinuxAgent-2.9.1.1"), (std::vector<uint64_t>{2, 9, 1, 1}));
  EXPECT_EQ(ParseVersion("8.6-beta"), (std::vector<uint64_t>{8, 6}));
  EXPECT_TRUE(ParseVersion("none").empty());
  EXPECT_LT(CompareVersions(ParseVersion("2.2.10"), ParseVersion("2.2.38")), 0);
  EXPECT_GT(CompareVersions(ParseVersion("2.10"), ParseVersion("2.9.9")), 0);
  EXPECT_EQ(CompareVersions(ParseVersion("2.2"), ParseVersion("2.2.0")), 0);
}

// What the appliance listed in a CI run whose kernel probed the drives out of
// order: the OS disk (drive 0) came up as sdc, the data disk (drive 1) as
// sda, the appliance's own root (8:16, added last) as sdb.
constexpr char kOutOfOrder[] =
    "root 2064\n"
    "disk 8:20 /dev/sdc\n"
    "disk 8:0 /dev/sda\n"
    "disk 8:10 /dev/sdb\n";

TEST(KernelDisks, FollowTheDrivesOrderNotTheKernelsLetters) {
  auto disks = ParseKernelDisks(kOutOfOrder);
  ASSERT_TRUE(disks.ok()) << disks.error().message();
  EXPECT_EQ(*disks, (std::vector<std::string>{"/dev/sdc", "/dev/sda"}));
  EXPECT_EQ(*KernelDeviceName("/dev/sda3", *disks), "/dev/sdc3");
  EXPECT_EQ(*KernelDeviceName("/dev/sda", *disks), "/dev/sdc");
  EXPECT_EQ(*KernelDeviceName("/dev/sdb2", *disks), "/dev/sda2");
  EXPECT_EQ(*KernelDeviceName("/dev/sdb12", *disks), "/dev/sda12");
}

TEST(KernelDisks, LeaveOtherNamesAlone) {
  const std::vector<std::string> disks = {"/dev/sdb", "/dev/sda"};
  for (const char* name : {"/dev/mapper/vhdcrypt-verify-0", "/dev/vg0/root", "/dev/md0", "/dev/sd", "/dev/sda1x"}) {
    auto got = KernelDeviceName(name, disks);
    ASSERT_TRUE(got.ok()) << name;
    EXPECT_EQ(*got, name);
  }
}

TEST(KernelDisks, AppendPForDisksEndingInADigit) {
  EXPECT_EQ(*KernelDeviceName("/dev/sda2", {"/dev/nvme0n1"}), "/dev/nvme0n1p2");
}

TEST(KernelDisks, CountDrivesPastZAsApplianceDeviceNamesThem) {
  std::vector<std::string> disks;
  for (int i = 0; i < 30; ++i) disks.push_back("/dev/k" + std::to_string(i) + "x");
  EXPECT_EQ(ApplianceDevice(27, 1), "/dev/sdab1");
  EXPECT_EQ(*KernelDeviceName("/dev/sdab1", disks), "/dev/k27x1");
  EXPECT_EQ(*KernelDeviceName("/dev/sdz", disks), "/dev/k25x");
  EXPECT_EQ(ApplianceDiskIndex("/dev/sdab1"), 27);
}

// Messages name the user's image and partition, never /dev/sdb1.
TEST(UserDeviceName, ImageAndPartitionForDrivesOtherNamesAsTheyAre) {
  const std::vector<std::string> images = {"os.vhd", "data.vhd", "bek.vhd"};
  EXPECT_EQ(UserDeviceName(images, "/dev/sda1"), "os.vhd partition 1");
  EXPECT_EQ(UserDeviceName(images, "/dev/sdb12"), "data.vhd partition 12");
  EXPECT_EQ(UserDeviceName(images, "/dev/sdc"), "bek.vhd");
  EXPECT_EQ(UserDeviceName(images, "/dev/sdd1"), "/dev/sdd1");  // no such image
  EXPECT_EQ(UserDeviceName(images, "/dev/vg0/root"), "/dev/vg0/root");
  EXPECT_EQ(UserDeviceName(images, "/dev/mapper/x"), "/dev/mapper/x");
}

TEST(UserFileName, FileOnTheImageAndPartition) {
  const std::vector<std::string> images = {"os.vhd", "data.vhd"};
  EXPECT_EQ(UserFileName(images, "/dev/sda1", "/luks/osluksheader"), "/luks/osluksheader on os.vhd partition 1");
  EXPECT_EQ(UserFileName(images, "/dev/sdb", "/LinuxPassPhraseFileName"), "/LinuxPassPhraseFileName on data.vhd");
}

TEST(KernelDisks, ADriveBeyondTheListIsAnErrorNamingIt) {
  auto got = KernelDeviceName("/dev/sdc1", {"/dev/sdb", "/dev/sda"});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message().find("/dev/sdc1: no such drive; the appliance has 2 disk(s)"), std::string::npos)
      << got.error().message();
}

TEST(KernelDisks, MalformedListingsAreErrorsQuotingTheLine) {
  struct Case {
    const char* listing;
    const char* says;
  };
  for (const Case& c : {Case{"disk 8:0 /dev/sda\n", "no root device"},
                        Case{"root x\ndisk 8:0 /dev/sda\n", "no device number: \"root x\""},
                        Case{"root 2064\ndisk 8 /dev/sda\n", "(numbers in hex): \"disk 8 /dev/sda\""},
                        Case{"root 2064\ndisk 8:0\n", "want \"disk MAJOR:MINOR PATH\": \"disk 8:0\""},
                        Case{"root 2064\ndisk 8:0 sda\n", "(numbers in hex): \"disk 8:0 sda\""},
                        Case{"root 2064\nls: cannot access\n", "unexpected line: \"ls: cannot access\""},
                        Case{"root 2064\n", "lists no disk under /dev/disk/by-path"},
                        Case{"root 2064\ndisk 8:10 /dev/sdb\n", "lists no disk under /dev/disk/by-path"}}) {
    auto got = ParseKernelDisks(c.listing);
    ASSERT_FALSE(got.ok()) << c.listing;
    EXPECT_NE(got.error().message().find(c.says), std::string::npos) << got.error().message();
  }
}

}  // namespace
}  // namespace vhdcrypt::guest
