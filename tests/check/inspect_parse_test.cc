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

TEST(ParseModprobe, FindsBlacklistsAndInstallOverrides) {
  auto r = ParseModprobe("/etc/modprobe.d/cis.conf",
                         {"# CIS 1.1.1.x", "install vfat /bin/true", "install dm-crypt /bin/false",
                          "blacklist nls_utf8", "options vfat shortname=mixed",
                          "install usb-storage /sbin/modprobe --ignore-install usb-storage"});
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
  EXPECT_EQ(AgentVersionFromSource({"import os", "AGENT_NAME = 'WALinuxAgent'", "AGENT_VERSION = '2.2.45'"}),
            "2.2.45");
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

}  // namespace
}  // namespace vhdcrypt::guest
