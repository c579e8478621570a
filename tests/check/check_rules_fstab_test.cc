// The fstab and volume rules: fstab-*, already-encrypted, unsupported-filesystem.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "src/check/rules.h"
#include "tests/check/check_facts.h"

namespace vhdcrypt::check_test {
namespace {

// ---------------------------------------------------------------------------
// fstab-nonpersistent-name

TEST(FstabNonpersistentName, DataDiskByKernelNameSuggestsItsUuid) {
  Facts f = Baseline();
  f.fstab[3] = Line(4, "/dev/sdb1", "/data", "ext4", "defaults,nofail");
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "fstab-nonpersistent-name", Severity::kError, "/etc/fstab:4", "/dev/sdb1");
  EXPECT_TRUE(Contains(hit.message, "/dev/sdb1 /data ext4")) << hit.message;  // quotes the line
  EXPECT_TRUE(Contains(hit.remedy, std::string("UUID=") + kDataUuid)) << hit.remedy;
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);  // it resolves: no fstab-unresolved
}

TEST(FstabNonpersistentName, EveryKernelNamingSchemeIsCaught) {
  for (const char* spec : {"/dev/sdc1", "/dev/vdb", "/dev/xvdf1", "/dev/hdb2", "/dev/nvme0n2", "/dev/nvme1n1p3",
                           "/dev/mmcblk0p2", "/dev/sdaa1"}) {
    Facts f = Baseline();
    f.fstab.push_back(Line(6, spec, "/srv/x", "ext4", "defaults,nofail"));
    SCOPED_TRACE(spec);
    auto hits = Only(Check(f), "fstab-nonpersistent-name");
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].subject, "/etc/fstab:6");
    EXPECT_TRUE(Contains(hits[0].message, spec));
    EXPECT_TRUE(Contains(hits[0].remedy, std::string("blkid ") + spec)) << hits[0].remedy;
  }
}

TEST(FstabNonpersistentName, PersistentNamesPass) {
  Facts f = Baseline();
  f.filesystems.push_back(Fs("/dev/sdb2", 1, 2, "xfs", "aaaa-bbbb", "logs"));
  f.filesystems.back().partuuid = "12345678-02";
  f.filesystems.back().partlabel = "logs-part";
  f.filesystems.push_back(Fs("/dev/datavg/lv1", 1, 0, "ext4", ""));
  f.filesystems.back().on_lvm = true;
  f.fstab.push_back(Line(6, "/dev/disk/by-uuid/AAAA-BBBB", "/srv/a", "xfs", "nofail"));
  f.fstab.push_back(Line(7, "LABEL=logs", "/srv/b", "xfs", "nofail"));
  f.fstab.push_back(Line(8, "PARTUUID=12345678-02", "/srv/c", "xfs", "nofail"));
  f.fstab.push_back(Line(9, "PARTLABEL=logs-part", "/srv/d", "xfs", "nofail"));
  f.fstab.push_back(Line(10, "/dev/disk/by-partlabel/logs-part", "/srv/e", "xfs", "nofail"));
  f.fstab.push_back(Line(11, "/dev/datavg/lv1", "/srv/f", "ext4", "nofail"));
  f.fstab.push_back(Line(12, "/dev/mapper/datavg-lv1", "/srv/g", "ext4", "nofail"));
  auto findings = Check(f);
  EXPECT_TRUE(findings.empty()) << Dump(findings);
}

TEST(FstabNonpersistentName, GatedByVolumeType) {
  Facts f = Baseline();
  f.fstab[0] = Line(1, "/dev/sda1", "/", "ext4", "defaults", 1);          // OS side
  f.fstab[3] = Line(4, "/dev/sdb1", "/data", "ext4", "defaults,nofail");  // data side
  auto subjects = [](const std::vector<Finding>& findings) {
    std::vector<std::string> s;
    for (const auto& x : Only(findings, "fstab-nonpersistent-name")) s.push_back(x.subject);
    return s;
  };
  EXPECT_EQ(subjects(Check(f)), (std::vector<std::string>{"/etc/fstab:1", "/etc/fstab:4"}));
  EXPECT_EQ(subjects(Check(f, Policy::kAzure, VolumeType::kOs)), (std::vector<std::string>{"/etc/fstab:1"}));
  EXPECT_EQ(subjects(Check(f, Policy::kAzure, VolumeType::kData)), (std::vector<std::string>{"/etc/fstab:4"}));
}

// ---------------------------------------------------------------------------
// fstab-missing-nofail

TEST(FstabMissingNofail, DataDiskWithoutNofail) {
  Facts f = Baseline();
  f.fstab[3] = Line(4, std::string("UUID=") + kDataUuid, "/data", "ext4", "defaults");
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "fstab-missing-nofail", Severity::kError, "/etc/fstab:4", "/data");
  EXPECT_TRUE(Contains(hit.message, std::string("UUID=") + kDataUuid));
  EXPECT_TRUE(Contains(hit.remedy, std::string("UUID=") + kDataUuid + " /data ext4 defaults,nofail 0 2")) << hit.remedy;
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  EXPECT_FALSE(Has(Check(f, Policy::kAzure, VolumeType::kOs), "fstab-missing-nofail"));
}

TEST(FstabMissingNofail, NofailMustBeAWholeOption) {
  Facts f = Baseline();
  f.fstab[3] = Line(4, std::string("UUID=") + kDataUuid, "/data", "ext4", "defaults,x-nofail");
  EXPECT_TRUE(Has(Check(f), "fstab-missing-nofail"));
  f.fstab[3] = Line(4, std::string("UUID=") + kDataUuid, "/data", "ext4", "nofail,noatime");
  EXPECT_FALSE(Has(Check(f), "fstab-missing-nofail"));
}

TEST(FstabMissingNofail, UnresolvedEntryOutsideOsMountsCountsAsData) {
  Facts f = Baseline();
  f.fstab.push_back(Line(6, "UUID=0000-1111", "/srv/backup", "xfs", "defaults"));
  auto findings = Check(f);
  ExpectOne(findings, "fstab-missing-nofail", Severity::kError, "/etc/fstab:6", "/srv/backup");
  ExpectOne(findings, "fstab-unresolved", Severity::kWarning, "/etc/fstab:6", "UUID=0000-1111");
}

// An entry that cannot be traced to a disk is judged by its mount point.
TEST(FstabMissingNofail, UnresolvedOsMountsNeedNoNofail) {
  for (const char* mount :
       {"/",        "/boot",      "/boot/efi",  "/usr",      "/usr/local", "/var",       "/var/log", "/var/log/audit",
        "/var/tmp", "/var/cache", "/var/spool", "/var/mail", "/var/opt",   "/var/crash", "/home",    "/opt",
        "/tmp",     "/srv",       "/root",      "/home/"}) {
    Facts f = Baseline();
    f.fstab.push_back(Line(6, "/dev/disk/by-id/scsi-36000c29-part3", mount, "xfs", "defaults"));
    EXPECT_TRUE(Check(f).empty()) << mount << "\n" << Dump(Check(f));
  }
  for (const char* mount : {"/var/lib/mysql", "/datadrive", "/opt/app", "/srv/www", "/home/alice", "/backup"}) {
    Facts f = Baseline();
    f.fstab.push_back(Line(6, "/dev/disk/by-id/scsi-36000c29-part3", mount, "xfs", "defaults"));
    ExpectOne(Check(f), "fstab-missing-nofail", Severity::kError, "/etc/fstab:6", mount);
  }
}

TEST(FstabMissingNofail, OsDiskPartitionsOutsideTheOsAreDataVolumes) {
  // What encrypt will touch: a partition of the OS disk mounted anywhere but
  // /, /boot and /boot/efi is a data volume and needs nofail...
  Facts f = Baseline();
  f.filesystems.push_back(Fs("/dev/sda3", 0, 3, "ext4", "3333-3333"));
  f.fstab.push_back(Line(6, "UUID=3333-3333", "/srv/local", "ext4", "defaults"));
  ExpectOne(Check(f), "fstab-missing-nofail", Severity::kError, "/etc/fstab:6", "/srv/local");
  // ...but a logical volume of the OS disk stays with the OS.
  Facts g = Baseline();
  auto lv = Fs("/dev/vg0/srv", 0, 0, "ext4", "4444-4444");
  lv.on_lvm = true;
  g.filesystems.push_back(lv);
  g.fstab.push_back(Line(6, "UUID=4444-4444", "/srv/local", "ext4", "defaults"));
  auto findings = Check(g);
  EXPECT_TRUE(findings.empty()) << Dump(findings);
}

TEST(FstabMissingNofail, OsMountsAndNonBlockEntriesNeedNoNofail) {
  Facts f = Baseline();
  f.fstab.push_back(Line(7, "/dev/disk/by-id/scsi-x-part1", "/var", "ext4", "defaults"));  // unresolvable, OS mount
  f.fstab.push_back(Line(9, "tmpfs", "/run/shm", "tmpfs", "defaults", 0));
  f.fstab.push_back(Line(10, "server:/export", "/shared", "nfs", "defaults", 0));
  f.fstab.push_back(Line(11, "//server/share", "/cifs", "cifs", "credentials=/root/c", 0));
  f.fstab.push_back(Line(12, "/data/web", "/var/www", "none", "bind", 0));
  f.fstab.push_back(Line(13, "proc", "/proc", "proc", "defaults", 0));
  f.fstab.push_back(Line(14, "/dev/sr0", "/media/cdrom", "iso9660", "ro,noauto", 0));
  f.fstab.push_back(Line(15, "/srv/images/disk.img", "/srv/img", "ext4", "loop", 0));
  auto findings = Check(f);
  EXPECT_TRUE(findings.empty()) << Dump(findings);
}

// ---------------------------------------------------------------------------
// fstab-under-mnt

TEST(FstabUnderMnt, DataVolumeBelowMnt) {
  Facts f = Baseline();
  f.fstab[3] = Line(4, std::string("UUID=") + kDataUuid, "/mnt/data", "ext4", "defaults,nofail");
  auto findings = Check(f);
  ExpectOne(findings, "fstab-under-mnt", Severity::kError, "/etc/fstab:4", "/mnt/data");
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  f.fstab[3].file = "/mnt/";
  ExpectOne(Check(f), "fstab-under-mnt", Severity::kError, "/etc/fstab:4", "at /mnt,");
  EXPECT_FALSE(Has(Check(f, Policy::kAzure, VolumeType::kOs), "fstab-under-mnt"));
}

TEST(FstabUnderMnt, SimilarNamesAndTheResourceDiskItselfPass) {
  Facts f = Baseline();
  f.fstab[3] = Line(4, std::string("UUID=") + kDataUuid, "/mntdata", "ext4", "defaults,nofail");
  // cloud-init's own line for the resource disk.
  f.fstab.push_back(Line(6, "/dev/disk/cloud/azure_resource-part1", "/mnt", "auto",
                         "defaults,nofail,x-systemd.requires=cloud-init.service,comment=cloudconfig"));
  auto findings = Check(f);
  EXPECT_TRUE(findings.empty()) << Dump(findings);
}

// ---------------------------------------------------------------------------
// fstab-nested-mount

Facts WithLogsVolume(const std::string& mount) {
  Facts f = Baseline();
  f.filesystems.push_back(Fs("/dev/sdb2", 1, 2, "ext4", kLogsUuid));
  f.fstab.push_back(Line(6, std::string("UUID=") + kLogsUuid, mount, "ext4", "defaults,nofail"));
  return f;
}

TEST(FstabNestedMount, DataVolumeInsideAnother) {
  auto findings = Check(WithLogsVolume("/data/logs"));
  auto hit = ExpectOne(findings, "fstab-nested-mount", Severity::kError, "/etc/fstab:6", "/data/logs");
  EXPECT_TRUE(Contains(hit.message, "mounted at /data (/etc/fstab:4)")) << hit.message;
  EXPECT_TRUE(Contains(hit.remedy, "/data-logs")) << hit.remedy;
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  EXPECT_FALSE(Has(Check(WithLogsVolume("/data/logs"), Policy::kAzure, VolumeType::kOs), "fstab-nested-mount"));
}

TEST(FstabNestedMount, NamesTheNearestEnclosingVolume) {
  Facts f = WithLogsVolume("/data/logs");
  f.filesystems.push_back(Fs("/dev/sdb3", 1, 3, "ext4", "5555-6666"));
  f.fstab.push_back(Line(7, "UUID=5555-6666", "/data/logs/archive", "ext4", "nofail"));
  auto hits = Only(Check(f), "fstab-nested-mount");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].subject, "/etc/fstab:6");
  EXPECT_EQ(hits[1].subject, "/etc/fstab:7");
  EXPECT_TRUE(Contains(hits[1].message, "mounted at /data/logs (/etc/fstab:6)")) << hits[1].message;
}

TEST(FstabNestedMount, SiblingsAndDataUnderOsMountsPass) {
  EXPECT_TRUE(Check(WithLogsVolume("/data2")).empty());
  EXPECT_TRUE(Check(WithLogsVolume("/var/lib/mysql")).empty());
  EXPECT_FALSE(Has(Check(WithLogsVolume("/data/")), "fstab-nested-mount"));
}

// ---------------------------------------------------------------------------
// fstab-unresolved

TEST(FstabUnresolved, DataDiskNotAttached) {
  Facts f = Baseline();
  f.data_disks.clear();
  f.filesystems.pop_back();  // /dev/sdb1
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "fstab-unresolved", Severity::kWarning, "/etc/fstab:4", kDataUuid);
  EXPECT_TRUE(Contains(hit.message, "no --data disks given")) << hit.message;
  EXPECT_TRUE(Contains(hit.remedy, "--data DISK")) << hit.remedy;
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);  // has nofail, mounted at /data: nothing else
}

TEST(FstabUnresolved, EverySpecKindIsMatched) {
  for (const char* spec : {"UUID=deadbeef-0000", "LABEL=nosuch", "PARTUUID=00000000-09", "PARTLABEL=nosuch",
                           "/dev/disk/by-uuid/deadbeef-0000", "/dev/disk/by-label/nosuch",
                           "/dev/disk/by-partuuid/00000000-09", "/dev/sdc1", "/dev/sda9"}) {
    Facts f = Baseline();
    f.fstab.push_back(Line(6, spec, "/srv/x", "ext4", "defaults,nofail"));
    SCOPED_TRACE(spec);
    auto hits = Only(Check(f), "fstab-unresolved");
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].subject, "/etc/fstab:6");
    EXPECT_TRUE(Contains(hits[0].message, spec));
  }
}

TEST(FstabUnresolved, MatchesAreCaseAndEscapeTolerant) {
  Facts f = Baseline();
  f.filesystems.push_back(Fs("/dev/sdb2", 1, 2, "ext4", "ABCD-EF01", "my data"));
  f.fstab.push_back(Line(6, "UUID=abcd-ef01", "/srv/a", "ext4", "nofail"));
  f.fstab.push_back(Line(7, "LABEL=my\\040data", "/srv/b", "ext4", "nofail"));
  f.fstab.push_back(Line(8, "/dev/disk/by-label/my\\x20data", "/srv/c", "ext4", "nofail"));
  f.fstab.push_back(Line(9, "LABEL=\"my data\"", "/srv/d", "ext4", "nofail"));
  f.fstab.push_back(Line(10, "/dev/disk/by-id/wwn-0x5000", "/srv/e", "ext4", "nofail"));  // cannot tell: no warning
  f.fstab.push_back(Line(11, "/swapfile2", "none", "swap", "sw", 0));
  auto findings = Check(f);
  EXPECT_TRUE(findings.empty()) << Dump(findings);
}

// device-mapper names are resolved to the LV, so an OS-disk LV is not taken for a data volume.
TEST(FstabUnresolved, MapperNamesResolveToLogicalVolumes) {
  Facts f = Baseline();
  f.filesystems.push_back(Fs("/dev/os-vg/srv", 0, 0, "ext4", ""));
  f.filesystems.back().on_lvm = true;
  f.fstab.push_back(Line(6, "/dev/mapper/os--vg-srv", "/srv/app", "ext4", "defaults"));
  EXPECT_TRUE(Check(f).empty()) << Dump(Check(f));
  f.filesystems.back().device = "/dev/os-vg/other";  // the LV is gone: judged by mount point, a data volume
  ExpectOne(Check(f), "fstab-missing-nofail", Severity::kError, "/etc/fstab:6", "/dev/mapper/os--vg-srv");
}

TEST(FstabUnresolved, KernelNamesMapToDiskAndPartition) {
  Facts f = Baseline();
  f.fstab[3] = Line(4, "/dev/sdb1", "/data", "ext4", "nofail");
  EXPECT_FALSE(Has(Check(f), "fstab-unresolved"));  // sdb = disk 1, partition 1
  f.fstab[3] = Line(4, "/dev/sdb2", "/data", "ext4", "nofail");
  EXPECT_TRUE(Has(Check(f), "fstab-unresolved"));
  f.fstab[3] = Line(4, "/dev/sdb", "/data", "ext4", "nofail");
  EXPECT_TRUE(Has(Check(f), "fstab-unresolved"));  // the whole disk is not the partition
}

// ---------------------------------------------------------------------------
// already-encrypted

TEST(AlreadyEncrypted, LuksOnTheOsDisk) {
  Facts f = Baseline();
  f.filesystems.push_back(Fs("/dev/sda3", 0, 3, "crypto_LUKS", "c0ffee00-0000"));
  auto findings = Check(f, Policy::kAzure, VolumeType::kData);  // disk 0 is judged whatever the volume type
  auto hit = ExpectOne(findings, "already-encrypted", Severity::kError, "/dev/sda3", "/dev/sda3 on ubuntu.vhd");
  EXPECT_TRUE(Contains(hit.message, "LUKS"));
}

TEST(AlreadyEncrypted, LuksOnADataDiskOnlyWhenDataIsEncrypted) {
  Facts f = Baseline();
  f.filesystems[3].type = "crypto_LUKS";
  f.fstab.pop_back();
  f.fstab.pop_back();  // /data no longer mounted from fstab
  ExpectOne(Check(f), "already-encrypted", Severity::kError, "/dev/sdb1", "/dev/sdb1 on data.vhd");
  EXPECT_TRUE(Check(f, Policy::kAzure, VolumeType::kOs).empty()) << Dump(Check(f, Policy::kAzure, VolumeType::kOs));
}

TEST(AlreadyEncrypted, CrypttabEntries) {
  Facts f = Baseline();
  f.crypttab_present = true;
  EXPECT_TRUE(Check(f).empty());  // an empty crypttab is fine
  guest::CrypttabEntry c;
  c.line = 2;
  c.name = "resourcediskencrypt";
  c.device = "/dev/disk/azure/resource-part1";
  c.keyfile = "/dev/urandom";
  c.options = "swap";
  c.text = "resourcediskencrypt /dev/disk/azure/resource-part1 /dev/urandom swap";
  f.crypttab.push_back(c);
  ExpectOne(Check(f, Policy::kAzure, VolumeType::kOs), "already-encrypted", Severity::kError, "/etc/crypttab:2",
            "resourcediskencrypt");
}

// ---------------------------------------------------------------------------
// unsupported-filesystem

TEST(UnsupportedFilesystem, BtrfsRoot) {
  Facts f = Baseline();
  f.filesystems[0].type = "btrfs";
  f.fstab[0].vfstype = "btrfs";
  auto findings = Check(f);
  ExpectOne(findings, "unsupported-filesystem", Severity::kError, "/dev/sda1", "root filesystem /dev/sda1 is btrfs");
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  EXPECT_TRUE(Check(f, Policy::kAzure, VolumeType::kData).empty());
}

TEST(UnsupportedFilesystem, DataVolumes) {
  Facts f = Baseline();
  f.filesystems[3].type = "btrfs";
  f.fstab[3].vfstype = "btrfs";
  auto findings = Check(f);
  ExpectOne(findings, "unsupported-filesystem", Severity::kError, "/etc/fstab:4", "/dev/sdb1 on data.vhd");
  EXPECT_TRUE(Check(f, Policy::kAzure, VolumeType::kOs).empty());
  // Unresolved: judged by the type fstab declares.
  f = Baseline();
  f.fstab.push_back(Line(6, "UUID=0123-4567", "/srv/win", "ntfs", "nofail"));
  ExpectOne(Check(f), "unsupported-filesystem", Severity::kError, "/etc/fstab:6", "is ntfs");
}

TEST(UnsupportedFilesystem, ExtAndXfsPass) {
  for (const char* type : {"ext2", "ext3", "ext4", "xfs"}) {
    Facts f = Baseline();
    f.filesystems[0].type = type;
    f.filesystems[3].type = type;
    EXPECT_TRUE(Check(f).empty()) << type;
  }
}

// ---------------------------------------------------------------------------
// Hostile fstab text: the guest's author controls every byte.

// std::regex recursed once per character: a spec of "/dev/sr" and 60,000
// digits overflowed the stack (SIGSEGV). Each matcher is tried at that length.
TEST(FstabHostile, LongSpecsOfEveryDeviceNameShape) {
  const std::string digits(60000, '7');
  const std::string letters(60000, 'q');
  for (const std::string& spec :
       {"/dev/sr" + digits, "/dev/cdrom" + digits, "/dev/fd" + digits, "/dev/sd" + letters,
        "/dev/sd" + letters + digits, "/dev/sda" + digits, "/dev/nvme" + digits + "n" + digits + "p" + digits,
        "/dev/mmcblk" + digits + "p" + digits, "/dev/xvd" + letters + "!"}) {
    SCOPED_TRACE(spec.substr(0, 12));
    Facts f = Baseline();
    f.fstab.push_back(Line(6, spec, "/srv/x", "ext4", "defaults,nofail"));
    auto findings = Check(f);
    // A removable spec is skipped; every other shape is a kernel name that resolves to nothing.
    const bool removable =
        spec.rfind("/dev/sr", 0) == 0 || spec.rfind("/dev/cd", 0) == 0 || spec.rfind("/dev/fd", 0) == 0;
    const bool kernel_name = !removable && spec.back() != '!';
    EXPECT_EQ(Has(findings, "fstab-nonpersistent-name"), kernel_name) << Dump(findings).substr(0, 300);
  }
}

TEST(FstabHostile, DeviceNameShapesMatchExactly) {
  for (const char* spec : {"/dev/sr", "/dev/fd", "/dev/sdA1", "/dev/sd1", "/dev/nvme0", "/dev/nvme0n", "/dev/nvme0n1p",
                           "/dev/mmcblk", "/dev/mmcblk0p", "/dev/sda1x", "/dev/floppy0", "dev/sda1"}) {
    SCOPED_TRACE(spec);
    Facts f = Baseline();
    f.fstab.push_back(Line(6, spec, "/srv/x", "ext4", "defaults,nofail"));
    EXPECT_FALSE(Has(Check(f), "fstab-nonpersistent-name"));
  }
  Facts f = Baseline();
  f.fstab.push_back(Line(6, "/dev/floppy", "/srv/x", "ext4", "defaults"));  // removable: no nofail needed
  f.fstab.push_back(Line(7, "/dev/cdrom", "/srv/y", "ext4", "defaults"));
  f.fstab.push_back(Line(8, "/dev/sr0", "/srv/z", "ext4", "defaults"));
  EXPECT_TRUE(Check(f).empty()) << Dump(Check(f));
}

// 100,000 nested data volumes: the nesting rule once compared every pair
// (10^10 steps); it walks each mount point's path now.
TEST(FstabHostile, HundredThousandNestedDataVolumesInLinearTime) {
  Facts f = Baseline();
  std::string mount = "/data";
  const int kLines = 100000;
  for (int i = 0; i < kLines; ++i) {
    if (i % 1000 == 0) mount += "/d";  // depth grows to 100; 1,000 lines share each mount point
    f.fstab.push_back(Line(6 + i, std::string("UUID=") + kDataUuid, mount, "ext4", "nofail"));
  }
  const auto start = std::chrono::steady_clock::now();
  auto findings = Check(f);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(20));  // about 1 s under ASan
  // Every added line is nested: in /data (line 4), or in the first line one level up.
  auto nested = Only(findings, "fstab-nested-mount");
  ASSERT_EQ(nested.size(), static_cast<size_t>(kLines));
  EXPECT_TRUE(Contains(nested.front().message, "mounted at /data (/etc/fstab:4)")) << nested.front().message;
  EXPECT_TRUE(Contains(nested.back().message, "(/etc/fstab:" + std::to_string(6 + kLines - 2000) + ")"))
      << nested.back().message.substr(0, 200);
}

}  // namespace
}  // namespace vhdcrypt::check_test
