#include "src/check/rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "src/check/report.h"
#include "tests/check/check_facts.h"

namespace vhdcrypt::check_test {
namespace {

// ---------------------------------------------------------------------------
// The baseline

TEST(CheckBaseline, CleanUbuntuHasNoFindings) {
  EXPECT_TRUE(Check(Baseline()).empty()) << Dump(Check(Baseline()));
  EXPECT_TRUE(Check(Baseline(), Policy::kAzure, VolumeType::kOs).empty());
  EXPECT_TRUE(Check(Baseline(), Policy::kAzure, VolumeType::kData).empty());
  EXPECT_TRUE(Check(Baseline(), Policy::kGeneric).empty());
}

// ---------------------------------------------------------------------------
// distro-unsupported, os-volume-unsupported

TEST(DistroUnsupported, NoOperatingSystemIsTheOnlyFinding) {
  Facts f = Baseline();
  f.os = {};
  f.kernels.clear();  // would otherwise trip vfat-missing: the short-circuit must hold anyway
  auto findings = Check(f);
  ASSERT_EQ(findings.size(), 1u) << Dump(findings);
  ExpectOne(findings, "distro-unsupported", Severity::kError, "ubuntu.vhd", "no operating system found in ubuntu.vhd");
  EXPECT_EQ(Check(f, Policy::kGeneric).size(), 1u);
}

TEST(DistroUnsupported, WindowsIsRejectedUnderEveryPolicy) {
  Facts f = Baseline();
  f.os.type = "windows";
  f.os.distro = "windows";
  f.os.product_name = "Windows Server 2022 Datacenter";
  for (Policy p : {Policy::kAzure, Policy::kGeneric}) {
    auto findings = Check(f, p);
    ASSERT_EQ(findings.size(), 1u) << Dump(findings);
    ExpectOne(findings, "distro-unsupported", Severity::kError, "windows", "Windows Server 2022");
  }
}

TEST(DistroUnsupported, Debian12IsOutsideAdeMatrix) {
  auto findings = Check(Debian12());
  ExpectOne(findings, "distro-unsupported", Severity::kError, "debian 12.2", "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  EXPECT_TRUE(Contains(Only(findings, "distro-unsupported")[0].remedy, "--policy generic"));
}

TEST(DistroUnsupported, UbuntuVersionsReadAsUsersWriteThem) {
  Facts f = Baseline();
  f.os.major = 23;
  f.os.minor = 4;
  f.os.product_name = "Ubuntu 23.04";
  auto hit = ExpectOne(Check(f), "distro-unsupported", Severity::kError, "ubuntu 23.04", "Ubuntu 23.04 (ubuntu 23.04)");
  EXPECT_TRUE(Contains(hit.remedy, "Ubuntu 18.04, 20.04, 22.04")) << hit.remedy;
}

TEST(DistroUnsupported, GenericPolicyAcceptsDebian12) {
  auto findings = Check(Debian12(), Policy::kGeneric);
  EXPECT_TRUE(findings.empty()) << Dump(findings);
}

struct MatrixCase {
  const char* distro;
  int major;
  int minor;
  const char* expect;  // "" (supported for OS and data), "distro-unsupported" or "os-volume-unsupported"
};

void PrintTo(const MatrixCase& c, std::ostream* os) {
  *os << c.distro << " " << c.major << "." << c.minor << " -> " << (*c.expect ? c.expect : "supported");
}

class AdeMatrix : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(AdeMatrix, AppliesPublishedMatrix) {
  const MatrixCase& c = GetParam();
  Facts f = Baseline();
  f.os.distro = c.distro;
  f.os.major = c.major;
  f.os.minor = c.minor;
  f.os.product_name.clear();
  auto findings = Check(f);
  const std::string expect = c.expect;
  EXPECT_EQ(Has(findings, "distro-unsupported"), expect == "distro-unsupported") << Dump(findings);
  EXPECT_EQ(Has(findings, "os-volume-unsupported"), expect == "os-volume-unsupported") << Dump(findings);
  // Data-only releases are fine when only data volumes are encrypted.
  auto data_only = Check(f, Policy::kAzure, VolumeType::kData);
  EXPECT_FALSE(Has(data_only, "os-volume-unsupported"));
  EXPECT_EQ(Has(data_only, "distro-unsupported"), expect == "distro-unsupported");
  // Generic accepts every Linux.
  auto generic = Check(f, Policy::kGeneric);
  EXPECT_FALSE(Has(generic, "distro-unsupported") || Has(generic, "os-volume-unsupported")) << Dump(generic);
}

INSTANTIATE_TEST_SUITE_P(
    Releases, AdeMatrix,
    ::testing::Values(
        MatrixCase{"ubuntu", 18, 4, ""}, MatrixCase{"ubuntu", 20, 4, ""}, MatrixCase{"ubuntu", 22, 4, ""},
        MatrixCase{"ubuntu", 16, 4, "distro-unsupported"}, MatrixCase{"ubuntu", 23, 4, "distro-unsupported"},
        MatrixCase{"ubuntu", 22, 10, "distro-unsupported"}, MatrixCase{"rhel", 7, 3, "distro-unsupported"},
        MatrixCase{"rhel", 7, 4, ""}, MatrixCase{"rhel", 7, 9, ""}, MatrixCase{"rhel", 8, 0, "distro-unsupported"},
        MatrixCase{"rhel", 8, 1, ""}, MatrixCase{"rhel", 8, 7, ""}, MatrixCase{"rhel", 8, 8, "distro-unsupported"},
        MatrixCase{"rhel", 9, 2, "distro-unsupported"}, MatrixCase{"centos", 7, 4, ""}, MatrixCase{"centos", 7, 9, ""},
        MatrixCase{"centos", 8, 4, ""}, MatrixCase{"centos", 8, 5, "distro-unsupported"},
        MatrixCase{"centos", 6, 8, "os-volume-unsupported"}, MatrixCase{"centos", 6, 9, "distro-unsupported"},
        MatrixCase{"oraclelinux", 8, 5, ""}, MatrixCase{"oraclelinux", 8, 6, ""},
        MatrixCase{"oraclelinux", 8, 4, "distro-unsupported"}, MatrixCase{"oraclelinux", 7, 9, "distro-unsupported"},
        MatrixCase{"mariner", 2, 0, ""}, MatrixCase{"mariner", 1, 0, "distro-unsupported"},
        MatrixCase{"opensuse", 42, 3, "os-volume-unsupported"}, MatrixCase{"opensuse", 15, 4, "distro-unsupported"},
        MatrixCase{"sles", 12, 3, "os-volume-unsupported"}, MatrixCase{"sles", 12, 4, "os-volume-unsupported"},
        MatrixCase{"sles", 12, 5, "distro-unsupported"}, MatrixCase{"sles", 15, 3, "distro-unsupported"},
        MatrixCase{"debian", 11, 0, "distro-unsupported"}, MatrixCase{"fedora", 38, 0, "distro-unsupported"}),
    [](const auto& param_info) {
      return std::string(param_info.param.distro) + "_" + std::to_string(param_info.param.major) + "_" +
             std::to_string(param_info.param.minor);
    });

TEST(DistroUnsupported, MarinerUnknownToLibguestfsFallsBackToOsRelease) {
  Facts f = Baseline();
  f.os.distro = "unknown";
  f.os.product_name = "CBL-Mariner/Linux";
  f.os.major = 0;
  f.os.minor = 0;
  f.os.os_release_id = "mariner";
  f.os.os_release_version_id = "2.0";
  f.initramfs_tool = "dracut";
  EXPECT_TRUE(Check(f).empty()) << Dump(Check(f));
  f.os.os_release_version_id = "1.0";
  ExpectOne(Check(f), "distro-unsupported", Severity::kError, "mariner 1.0", "CBL-Mariner/Linux");
}

TEST(OsVolumeUnsupported, NamesTheReleaseAndSuggestsDataOnly) {
  Facts f = Baseline();
  f.os.distro = "sles";
  f.os.product_name = "SUSE Linux Enterprise Server 12 SP3";
  f.os.major = 12;
  f.os.minor = 3;
  auto findings = Check(f, Policy::kAzure, VolumeType::kOs);
  auto hit = ExpectOne(findings, "os-volume-unsupported", Severity::kError, "sles 12 SP3",
                       "SUSE Linux Enterprise Server 12 SP3");
  EXPECT_TRUE(Contains(hit.remedy, "--volume-type data"));
  EXPECT_FALSE(Has(findings, "distro-unsupported"));
  EXPECT_FALSE(Has(Check(f, Policy::kAzure, VolumeType::kData), "os-volume-unsupported"));
}

// ---------------------------------------------------------------------------
// lvm-os-volume

Facts RootOnLvm() {
  Facts f = Baseline();
  f.root_on_lvm = true;
  f.volume_groups = {"rootvg"};
  f.logical_volumes = {"/dev/rootvg/rootlv"};
  f.os.root = "/dev/rootvg/rootlv";
  f.filesystems[0] = Fs("/dev/rootvg/rootlv", 0, 0, "xfs", kRootUuid, "cloudimg-rootfs");
  f.filesystems[0].on_lvm = true;
  return f;
}

TEST(LvmOsVolume, OnePhysicalVolumePartitionIsEncryptedAsTheOsVolume) {
  Facts f = RootOnLvm();
  f.root_pvs = {Fs("/dev/sda2", 0, 2, "LVM2_member", "pvuuid", "")};
  auto findings = Check(f);
  ExpectOne(findings, "lvm-os-volume", Severity::kInfo, "/dev/rootvg/rootlv", "/dev/sda2");
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  EXPECT_FALSE(Has(Check(f, Policy::kAzure, VolumeType::kData), "lvm-os-volume"));
}

TEST(LvmOsVolume, SeveralOrWholeDiskPhysicalVolumesAreAnError) {
  Facts f = RootOnLvm();
  f.root_pvs = {Fs("/dev/sda2", 0, 2, "LVM2_member", "a", ""), Fs("/dev/sdb", 1, 0, "LVM2_member", "b", "")};
  auto findings = Check(f);
  ExpectOne(findings, "lvm-os-volume-unsupported", Severity::kError, "/dev/rootvg/rootlv", "2 physical volume(s)");
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  f.root_pvs = {Fs("/dev/sdb", 1, 0, "LVM2_member", "b", "")};
  ExpectOne(Check(f), "lvm-os-volume-unsupported", Severity::kError, "/dev/rootvg/rootlv", "/dev/sdb");
  EXPECT_FALSE(Has(Check(f, Policy::kAzure, VolumeType::kData), "lvm-os-volume-unsupported"));
}

TEST(LvmOsVolume, DataVolumeOnLvmIsNotAnOsProblem) {
  Facts f = Baseline();
  f.volume_groups = {"datavg"};
  f.logical_volumes = {"/dev/datavg/datalv"};
  f.filesystems.push_back(Fs("/dev/datavg/datalv", 1, 0, "ext4", "", ""));
  f.filesystems.back().on_lvm = true;
  f.fstab.push_back(Line(6, "/dev/mapper/datavg-datalv", "/srv/db", "ext4", "defaults,nofail"));
  auto findings = Check(f);
  EXPECT_TRUE(findings.empty()) << Dump(findings);
}

// ---------------------------------------------------------------------------
// no-plaintext-boot, boot-too-small

TEST(NoPlaintextBoot, InfoWhenBootIsPartOfRoot) {
  Facts f = Baseline();
  f.separate_boot = false;
  f.boot_device.clear();
  f.boot_free_bytes = 0;
  f.fstab.erase(f.fstab.begin() + 1);
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "no-plaintext-boot", Severity::kInfo, "/boot", "/dev/sda1");
  EXPECT_TRUE(Contains(hit.message, "vhdcrypt will split /boot out")) << hit.message;
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);  // not boot-too-small: there is no /boot partition to fill
  EXPECT_TRUE(Check(f, Policy::kAzure, VolumeType::kData).empty());
}

TEST(BootTooSmall, StatesFreeAndRequiredBytes) {
  Facts f = Baseline();
  f.boot_free_bytes = 10 * kMiB;
  auto hit = ExpectOne(Check(f), "boot-too-small", Severity::kError, "/dev/sda16", "/dev/sda16");
  EXPECT_TRUE(Contains(hit.message, "10485760 bytes free")) << hit.message;
  EXPECT_TRUE(Contains(hit.message, "67108864 bytes")) << hit.message;
  EXPECT_TRUE(Contains(hit.remedy, "56623104")) << hit.remedy;  // what is missing
  EXPECT_FALSE(Has(Check(f, Policy::kAzure, VolumeType::kData), "boot-too-small"));
}

TEST(BootTooSmall, ExactlySixtyFourMibIsEnough) {
  Facts f = Baseline();
  f.boot_free_bytes = 64 * kMiB;
  EXPECT_TRUE(Check(f).empty());
  f.boot_free_bytes = 64 * kMiB - 1;
  EXPECT_TRUE(Has(Check(f), "boot-too-small"));
}

// ---------------------------------------------------------------------------
// vfat-missing, vfat-disabled, dm-crypt-missing

TEST(VfatMissing, KernelWithoutVfat) {
  Facts f = Baseline();
  f.kernels[0].modules["vfat"] = {};
  f.kernels[0].modules["nls_cp437"] = {};
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "vfat-missing", Severity::kError, std::string("/lib/modules/") + kKernel, kKernel);
  EXPECT_TRUE(Contains(hit.message, "vfat, nls_cp437")) << hit.message;
  EXPECT_TRUE(Contains(hit.remedy, std::string("linux-modules-") + kKernel)) << hit.remedy;
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
}

TEST(VfatMissing, OneNlsCharsetIsEnoughAndBuiltinsCount) {
  Facts f = Baseline();
  f.kernels[0].modules["nls_iso8859_1"] = {};
  EXPECT_TRUE(Check(f).empty());
  f.kernels[0].modules["vfat"] = {false, true};  // built in
  f.kernels[0].modules["fat"] = {false, true};
  EXPECT_TRUE(Check(f).empty());
  f.kernels[0].modules["nls_utf8"] = {};
  ExpectOne(Check(f), "vfat-missing", Severity::kError, std::string("/lib/modules/") + kKernel,
            "nls_iso8859_1 or nls_utf8");
}

TEST(VfatMissing, EachKernelIsJudged) {
  Facts f = Baseline();
  f.kernels.push_back(FullKernel("5.15.0-1040-azure"));
  f.kernels.back().modules["fat"] = {};
  f.kernels.back().has_modules_dep = false;
  auto hit = ExpectOne(Check(f), "vfat-missing", Severity::kError, "/lib/modules/5.15.0-1040-azure", "fat");
  EXPECT_TRUE(Contains(hit.remedy, "depmod 5.15.0-1040-azure")) << hit.remedy;
}

TEST(VfatMissing, NoKernelAtAll) {
  Facts f = Baseline();
  f.kernels.clear();
  auto findings = Check(f);
  ExpectOne(findings, "vfat-missing", Severity::kError, "/lib/modules", "no kernel found under /lib/modules");
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
}

TEST(VfatDisabled, BlacklistAndInstallOverride) {
  Facts f = Baseline();
  f.modprobe_rules = {
      Rule("/etc/modprobe.d/CIS.conf", 7, "vfat", guest::ModprobeRule::Kind::kInstallOverride,
           "install vfat /bin/true"),
      Rule("/etc/modprobe.d/blacklist.conf", 3, "nls_cp437", guest::ModprobeRule::Kind::kBlacklist,
           "blacklist nls_cp437"),
  };
  auto hits = Only(Check(f), "vfat-disabled");
  ASSERT_EQ(hits.size(), 2u) << Dump(Check(f));
  EXPECT_EQ(hits[0].subject, "/etc/modprobe.d/CIS.conf:7");  // sorted by subject
  EXPECT_TRUE(Contains(hits[0].message, "install vfat /bin/true")) << hits[0].message;
  EXPECT_EQ(hits[0].severity, Severity::kError);
  EXPECT_EQ(hits[1].subject, "/etc/modprobe.d/blacklist.conf:3");
  EXPECT_TRUE(Contains(hits[1].message, "blacklists nls_cp437")) << hits[1].message;
  EXPECT_TRUE(Contains(hits[1].remedy, "delete line 3 of /etc/modprobe.d/blacklist.conf")) << hits[1].remedy;
}

TEST(VfatDisabled, OtherModulesMayBeBlacklisted) {
  Facts f = Baseline();
  f.modprobe_rules = {Rule("/etc/modprobe.d/CIS.conf", 1, "cramfs", guest::ModprobeRule::Kind::kInstallOverride,
                           "install cramfs /bin/true"),
                      Rule("/etc/modprobe.d/CIS.conf", 2, "usb_storage", guest::ModprobeRule::Kind::kBlacklist,
                           "blacklist usb-storage")};
  EXPECT_TRUE(Check(f).empty());
}

TEST(DmCryptMissing, KernelWithoutDmCrypt) {
  Facts f = Baseline();
  f.kernels[0].modules["dm_crypt"] = {};
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "dm-crypt-missing", Severity::kError, std::string("/lib/modules/") + kKernel, kKernel);
  EXPECT_TRUE(Contains(hit.remedy, "CONFIG_DM_CRYPT"));
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  f.kernels[0].modules["dm_crypt"] = {false, true};
  EXPECT_TRUE(Check(f).empty());
}

// modules.dep lists the module but its file is gone (a stripped tree): the
// guest could not load it, so it counts as missing, and the finding names the
// file. Built in, the same kernel is fine.
TEST(DmCryptMissing, ListedInModulesDepButFileGone) {
  Facts f = Baseline();
  const std::string file = std::string("/lib/modules/") + kKernel + "/kernel/drivers/md/dm-mod.ko";
  f.kernels[0].modules["dm_crypt"] = {true, false, file};
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "dm-crypt-missing", Severity::kError, std::string("/lib/modules/") + kKernel, file);
  EXPECT_TRUE(Contains(hit.message, "modules.dep lists dm_crypt but " + file + " is missing")) << hit.message;
  EXPECT_TRUE(Contains(hit.remedy, "reinstall")) << hit.remedy;
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  f.kernels[0].modules["dm_crypt"] = {true, true, file};
  EXPECT_TRUE(Check(f).empty());
}

TEST(VfatMissing, ListedInModulesDepButFileGone) {
  Facts f = Baseline();
  const std::string file = std::string("/lib/modules/") + kKernel + "/kernel/fs/fat/fat.ko";
  f.kernels[0].modules["vfat"] = {true, false, file};
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "vfat-missing", Severity::kError, std::string("/lib/modules/") + kKernel, file);
  EXPECT_TRUE(Contains(hit.remedy, "reinstall")) << hit.remedy;
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
}

TEST(DmCryptMissing, DisabledByModprobe) {
  Facts f = Baseline();
  f.modprobe_rules = {Rule("/etc/modprobe.d/harden.conf", 12, "dm_crypt", guest::ModprobeRule::Kind::kInstallOverride,
                           "install dm-crypt /bin/false")};
  auto findings = Check(f);
  ExpectOne(findings, "dm-crypt-missing", Severity::kError, "/etc/modprobe.d/harden.conf:12",
            "install dm-crypt /bin/false");
  EXPECT_FALSE(Has(findings, "vfat-disabled"));
}

// ---------------------------------------------------------------------------
// cryptsetup-missing, initramfs-tool-missing

TEST(CryptsetupMissing, BinaryAndInitramfsIntegrationAreSeparateFindings) {
  Facts f = Baseline();
  f.cryptsetup_installed = false;
  f.cryptsetup_initramfs_installed = false;
  auto hits = Only(Check(f), "cryptsetup-missing");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].subject, "cryptsetup");
  EXPECT_TRUE(Contains(hits[0].remedy, "apt-get install cryptsetup`")) << hits[0].remedy;
  EXPECT_EQ(hits[1].subject, "cryptsetup-initramfs");
  EXPECT_TRUE(Contains(hits[1].message, "cryptsetup-initramfs")) << hits[1].message;
  EXPECT_TRUE(Contains(hits[1].remedy, "apt-get install cryptsetup-initramfs")) << hits[1].remedy;
  // Data volumes are not unlocked from the initramfs.
  auto data = Only(Check(f, Policy::kAzure, VolumeType::kData), "cryptsetup-missing");
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].subject, "cryptsetup");
}

TEST(CryptsetupMissing, DracutCryptModuleOnRhel) {
  Facts f = Baseline();
  f.os.distro = "rhel";
  f.os.product_name = "Red Hat Enterprise Linux 8.6 (Ootpa)";
  f.os.major = 8;
  f.os.minor = 6;
  f.initramfs_tool = "dracut";
  f.kernels = {FullKernel("4.18.0-372.9.1.el8.x86_64")};
  EXPECT_TRUE(Check(f).empty()) << Dump(Check(f));
  f.cryptsetup_initramfs_installed = false;
  auto hit = ExpectOne(Check(f), "cryptsetup-missing", Severity::kError, "dracut:crypt", "dracut");
  EXPECT_TRUE(Contains(hit.remedy, "yum install dracut cryptsetup")) << hit.remedy;
}

TEST(InitramfsToolMissing, NeitherToolInstalled) {
  Facts f = Baseline();
  f.initramfs_tool.clear();
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "initramfs-tool-missing", Severity::kError, "initramfs", "initramfs-tools");
  EXPECT_TRUE(Contains(hit.message, "dracut"));
  EXPECT_TRUE(Contains(hit.remedy, "apt-get install initramfs-tools")) << hit.remedy;
  EXPECT_EQ(findings.size(), 1u) << Dump(findings);
  EXPECT_TRUE(Check(f, Policy::kAzure, VolumeType::kData).empty());
}

// ---------------------------------------------------------------------------
// selinux-enforcing, agent-too-old, legacy-extension

TEST(SelinuxEnforcing, InfoOnlyWhenEnforcing) {
  Facts f = Baseline();
  f.selinux_mode = "enforcing";
  f.setfiles_installed = true;
  auto findings = Check(f);
  auto hit = ExpectOne(findings, "selinux-enforcing", Severity::kInfo, "/etc/selinux/config", "enforcing");
  EXPECT_TRUE(Contains(hit.message, "restores the labels")) << hit.message;
  f.setfiles_installed = false;
  hit = ExpectOne(Check(f), "selinux-enforcing", Severity::kInfo, "/etc/selinux/config", "setfiles is not installed");
  EXPECT_TRUE(Contains(hit.message, "/.autorelabel")) << hit.message;
  EXPECT_TRUE(Contains(hit.remedy, "policycoreutils")) << hit.remedy;
  f.setfiles_installed = true;
  for (const char* mode : {"permissive", "disabled", ""}) {
    f.selinux_mode = mode;
    EXPECT_TRUE(Check(f).empty()) << mode;
  }
}

TEST(AgentTooOld, ComparesDottedVersionsNumerically) {
  struct Case {
    const char* version;
    bool too_old;
  };
  for (const Case& c : {Case{"2.2.10", true}, Case{"2.2.37.9", true}, Case{"2.1.99", true}, Case{"1.9.0", true},
                        Case{"2.2.38", false}, Case{"2.2.53.1", false}, Case{"2.9.1.1", false}, Case{"2.2.100", false},
                        Case{"2.10", false}, Case{"WALinuxAgent-2.2.45", false}, Case{"unknown", false}}) {
    Facts f = Baseline();
    f.agent_version = c.version;
    SCOPED_TRACE(c.version);
    auto findings = Check(f);
    if (c.too_old) {
      auto hit = ExpectOne(findings, "agent-too-old", Severity::kError, "waagent", c.version);
      EXPECT_TRUE(Contains(hit.message, "2.2.38"));
      EXPECT_TRUE(Contains(hit.remedy, "apt-get install walinuxagent")) << hit.remedy;
    } else {
      EXPECT_TRUE(findings.empty()) << Dump(findings);
    }
  }
}

TEST(AgentTooOld, SkippedUnderGenericPolicyAndWhenAbsent) {
  Facts f = Baseline();
  f.agent_version = "2.2.10";
  EXPECT_TRUE(Check(f, Policy::kGeneric).empty());
  f.agent_version.reset();
  EXPECT_TRUE(Check(f).empty());
}

TEST(LegacyExtension, OneWarningPerTrace) {
  Facts f = Baseline();
  f.legacy_ade_traces = {"/var/lib/azure_disk_encryption_config", "/etc/azure_disk_encryption"};
  auto hits = Only(Check(f), "legacy-extension");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].subject, "/etc/azure_disk_encryption");
  EXPECT_EQ(hits[1].subject, "/var/lib/azure_disk_encryption_config");
  for (const auto& h : hits) {
    EXPECT_EQ(h.severity, Severity::kWarning);
    EXPECT_TRUE(Contains(h.message, h.subject));
    EXPECT_TRUE(Contains(h.remedy, "rm -rf " + h.subject)) << h.remedy;
  }
}

// ---------------------------------------------------------------------------
// Order, determinism, the rule table

// A guest with something wrong everywhere.
Facts Broken() {
  Facts f = Baseline();
  f.fstab[3] = Line(4, "/dev/sdb1", "/mnt/data", "ext4", "defaults");
  f.fstab.push_back(Line(10, "UUID=0000-1111", "/mnt/data/x", "ext4", "defaults"));
  f.fstab.push_back(Line(9, "UUID=0000-2222", "/srv/y", "ntfs", "nofail"));
  f.kernels.push_back(FullKernel("5.15.0-1040-azure"));
  f.kernels.back().modules["vfat"] = {};
  f.kernels.back().modules["dm_crypt"] = {};
  f.selinux_mode = "enforcing";
  f.separate_boot = false;
  f.agent_version = "2.2.10";
  f.legacy_ade_traces = {"/var/lib/azure_disk_encryption_config"};
  f.cryptsetup_initramfs_installed = false;
  return f;
}

TEST(CheckOrder, SortedBySeverityThenIdThenSubject) {
  auto findings = Check(Broken());
  ASSERT_GE(findings.size(), 10u) << Dump(findings);
  for (size_t i = 1; i < findings.size(); ++i) {
    const auto& a = findings[i - 1];
    const auto& b = findings[i];
    ASSERT_LE(a.severity, b.severity) << Dump(findings);
    if (a.severity == b.severity) {
      ASSERT_LE(a.id, b.id) << Dump(findings);
    }
  }
  // Subjects with line numbers sort as numbers: line 9 before line 10.
  auto unresolved = Only(findings, "fstab-unresolved");
  ASSERT_EQ(unresolved.size(), 2u) << Dump(findings);
  EXPECT_EQ(unresolved[0].subject, "/etc/fstab:9");
  EXPECT_EQ(unresolved[1].subject, "/etc/fstab:10");
}

bool SameFindings(const std::vector<Finding>& a, const std::vector<Finding>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].severity != b[i].severity || a[i].subject != b[i].subject ||
        a[i].message != b[i].message || a[i].remedy != b[i].remedy) {
      return false;
    }
  }
  return true;
}

TEST(CheckOrder, DeterministicAndIndependentOfInputOrder) {
  Facts f = Broken();
  auto first = Check(f);
  EXPECT_TRUE(SameFindings(first, Check(f)));
  std::reverse(f.fstab.begin(), f.fstab.end());
  std::reverse(f.filesystems.begin(), f.filesystems.end());
  std::reverse(f.kernels.begin(), f.kernels.end());
  EXPECT_TRUE(SameFindings(first, Check(f))) << Dump(first) << "---\n" << Dump(Check(f));
  EXPECT_EQ(CheckJson(f, Check(f)).dump(), CheckJson(f, first).dump());
}

// One way to trigger each rule, with the options it needs.
struct Trigger {
  const char* id;
  std::function<void(Facts&)> mutate;
  Policy policy = Policy::kAzure;
  VolumeType volume_type = VolumeType::kAll;
};

const std::vector<Trigger>& Triggers() {
  static const std::vector<Trigger> kTriggers = {
      {"distro-unsupported",
       [](Facts& f) {
         f.os.distro = "debian";
         f.os.major = 12;
       }},
      {"os-volume-unsupported",
       [](Facts& f) {
         f.os.distro = "centos";
         f.os.major = 6;
         f.os.minor = 8;
       }},
      {"lvm-os-volume",
       [](Facts& f) {
         f.root_on_lvm = true;
         f.root_pvs = {Fs("/dev/sda2", 0, 2, "LVM2_member", "pv")};
       }},
      {"lvm-os-volume-unsupported", [](Facts& f) { f.root_on_lvm = true; }},
      {"no-plaintext-boot", [](Facts& f) { f.separate_boot = false; }},
      {"fstab-nonpersistent-name", [](Facts& f) { f.fstab[3].spec = "/dev/sdb1"; }},
      {"fstab-missing-nofail", [](Facts& f) { f.fstab[3].options = "defaults"; }},
      {"fstab-under-mnt", [](Facts& f) { f.fstab[3].file = "/mnt/data"; }},
      {"fstab-nested-mount",
       [](Facts& f) {
         f.filesystems.push_back(Fs("/dev/sdb2", 1, 2, "ext4", kLogsUuid));
         f.fstab.push_back(Line(6, std::string("UUID=") + kLogsUuid, "/data/logs", "ext4", "nofail"));
       }},
      {"fstab-unresolved", [](Facts& f) { f.filesystems.pop_back(); }},
      {"vfat-missing", [](Facts& f) { f.kernels[0].modules["fat"] = {}; }},
      {"vfat-disabled",
       [](Facts& f) {
         f.modprobe_rules.push_back(
             Rule("/etc/modprobe.d/x.conf", 1, "vfat", guest::ModprobeRule::Kind::kBlacklist, "blacklist vfat"));
       }},
      {"dm-crypt-missing", [](Facts& f) { f.kernels[0].modules["dm_crypt"] = {}; }},
      {"cryptsetup-missing", [](Facts& f) { f.cryptsetup_installed = false; }},
      {"initramfs-tool-missing", [](Facts& f) { f.initramfs_tool.clear(); }},
      {"already-encrypted", [](Facts& f) { f.filesystems[1].type = "crypto_LUKS"; }},
      {"selinux-enforcing", [](Facts& f) { f.selinux_mode = "enforcing"; }},
      {"agent-too-old", [](Facts& f) { f.agent_version = "2.2.0"; }},
      {"legacy-extension", [](Facts& f) { f.legacy_ade_traces = {"/etc/azure_disk_encryption"}; }},
      {"boot-too-small", [](Facts& f) { f.boot_free_bytes = 1; }},
      {"unsupported-filesystem", [](Facts& f) { f.filesystems[0].type = "btrfs"; }},
  };
  return kTriggers;
}

TEST(RuleTable, EveryRuleHasATriggerAndEveryTriggerARule) {
  std::set<std::string> table, triggered;
  for (const auto& r : AllRules()) {
    EXPECT_TRUE(table.insert(r.id).second) << "duplicate id " << r.id;
    EXPECT_NE(std::string(r.summary), "");
  }
  for (const auto& t : Triggers()) {
    Facts f = Baseline();
    t.mutate(f);
    auto findings = RunRules(f, CheckOptions{t.policy, t.volume_type});
    SCOPED_TRACE(t.id);
    EXPECT_TRUE(Has(findings, t.id)) << Dump(findings);
    for (const auto& x : findings) triggered.insert(x.id);
  }
  EXPECT_EQ(table, triggered);
  EXPECT_EQ(table.size(), 21u);
}

TEST(RuleTable, FindingsCarryTheTableSeverity) {
  for (const auto& t : Triggers()) {
    Facts f = Baseline();
    t.mutate(f);
    for (const auto& x : RunRules(f, CheckOptions{t.policy, t.volume_type})) {
      auto rule = std::find_if(AllRules().begin(), AllRules().end(), [&](const RuleInfo& r) { return x.id == r.id; });
      ASSERT_NE(rule, AllRules().end()) << x.id;
      EXPECT_EQ(rule->severity, x.severity) << x.id;
      EXPECT_FALSE(x.subject.empty()) << x.id;
      EXPECT_FALSE(x.message.empty()) << x.id;
      EXPECT_FALSE(x.remedy.empty()) << x.id;
    }
  }
}

TEST(Severity, Names) {
  EXPECT_STREQ(SeverityName(Severity::kError), "error");
  EXPECT_STREQ(SeverityName(Severity::kWarning), "warning");
  EXPECT_STREQ(SeverityName(Severity::kInfo), "info");
}

}  // namespace
}  // namespace vhdcrypt::check_test
