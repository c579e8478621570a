#include "src/plan/volumes.h"

#include <gtest/gtest.h>

#include "src/check/rules.h"
#include "tests/check/check_facts.h"

namespace vhdcrypt {
namespace {

using check_test::Baseline;
using check_test::Fs;
using check_test::Line;

std::vector<std::string> Devices(const VolumeSelection& s) {
  std::vector<std::string> out;
  for (const auto& v : s.volumes) out.push_back(v.fs->device + ":" + v.mountpoint);
  return out;
}

TEST(SelectDataVolumes, TheFstabDataVolumeOfTheBaseline) {
  auto f = Baseline();
  auto s = SelectDataVolumes(f);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(Devices(*s), std::vector<std::string>{"/dev/sdb1:/data"});
  ASSERT_NE(s->volumes[0].fstab, nullptr);
  EXPECT_EQ(s->volumes[0].fstab->line, 4);
}

TEST(SelectDataVolumes, AnOsDiskPartitionMountedOutsideTheOsIsADataVolume) {
  auto f = Baseline();
  f.filesystems.push_back(Fs("/dev/sda3", 0, 3, "xfs", "aaaaaaaa-0000-4000-8000-000000000003"));
  f.fstab.push_back(Line(6, "UUID=aaaaaaaa-0000-4000-8000-000000000003", "/srv/www", "xfs", "defaults,nofail"));
  auto s = SelectDataVolumes(f);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Devices(*s), (std::vector<std::string>{"/dev/sda3:/srv/www", "/dev/sdb1:/data"}));
  // check judges the same volume: without nofail it is a data-volume finding.
  f.fstab.back().options = "defaults";
  bool flagged = false;
  for (const auto& x : RunRules(f, {Policy::kAzure, VolumeType::kData})) {
    flagged |= x.id == "fstab-missing-nofail" && x.subject == "/etc/fstab:6";
  }
  EXPECT_TRUE(flagged);
}

TEST(SelectDataVolumes, RootBootEfiAndSwapStayWithTheOs) {
  auto f = Baseline();
  f.fstab.erase(f.fstab.begin() + 3);  // drop /data
  auto s = SelectDataVolumes(f);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->volumes.empty());
}

TEST(SelectDataVolumes, UnsupportedAndUnresolvedAreSkippedWithAReason) {
  auto f = Baseline();
  f.filesystems.push_back(Fs("/dev/sdb2", 1, 2, "vfat", "1234-ABCD"));
  f.fstab.push_back(Line(6, "UUID=1234-ABCD", "/exchange", "vfat", "defaults,nofail"));
  f.fstab.push_back(Line(7, "UUID=deadbeef-0000-4000-8000-000000000000", "/gone", "ext4", "defaults,nofail"));
  auto s = SelectDataVolumes(f);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Devices(*s), std::vector<std::string>{"/dev/sdb1:/data"});
  ASSERT_EQ(s->skipped.size(), 2u);
  EXPECT_NE(s->skipped[0].find("vfat"), std::string::npos) << s->skipped[0];
  EXPECT_NE(s->skipped[1].find("/etc/fstab:7"), std::string::npos) << s->skipped[1];
}

TEST(SelectDataVolumes, LogicalVolumesAreRefusedNotSkipped) {
  auto f = Baseline();
  auto lv = Fs("/dev/vg0/data", 1, 0, "ext4", "bbbbbbbb-0000-4000-8000-000000000001");
  lv.on_lvm = true;
  f.filesystems.push_back(lv);
  f.fstab.push_back(Line(6, "/dev/mapper/vg0-data", "/lv", "ext4", "defaults,nofail"));
  auto s = SelectDataVolumes(f);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(s.error().message().find("/dev/vg0/data on data.vhd"), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find("logical volume"), std::string::npos);
}

TEST(SelectDataVolumes, WithoutAnOsEveryExtAndXfsFilesystemOnEveryDisk) {
  guest::Facts f;
  f.image = "a.raw";
  f.data_disks = {"b.raw"};
  f.filesystems = {Fs("/dev/sda1", 0, 1, "ext4", "u1"),        Fs("/dev/sda2", 0, 2, "swap", "u2"),
                   Fs("/dev/sda3", 0, 3, "xfs", "u3"),         Fs("/dev/sdb", 1, 0, "ext3", "u4"),
                   Fs("/dev/sdb9", 1, 9, "crypto_LUKS", "u5"), Fs("/dev/sda4", 0, 4, "ntfs", "u6")};
  auto s = SelectDataVolumes(f);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Devices(*s), (std::vector<std::string>{"/dev/sda1:", "/dev/sda3:", "/dev/sdb:"}));
  for (const auto& v : s->volumes) EXPECT_EQ(v.fstab, nullptr);
  ASSERT_EQ(s->skipped.size(), 1u);  // ntfs: said; swap and LUKS: silently not data
  EXPECT_NE(s->skipped[0].find("ntfs"), std::string::npos);
}

}  // namespace
}  // namespace vhdcrypt
