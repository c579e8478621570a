// The rules about the OS, its kernels, packages and /boot; the table of rule
// ids; and the ordering of findings. The fstab and volume rules live in
// rules_fstab.cc.
#include "src/check/rules.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "guestfs/version.h"
#include "src/check/rules_internal.h"

namespace vhdcrypt {

const char* SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kError: return "error";
    case Severity::kWarning: return "warning";
    case Severity::kInfo: return "info";
  }
  return "error";
}

const std::vector<RuleInfo>& AllRules() {
  static const std::vector<RuleInfo> kRules = {
      {"distro-unsupported", Severity::kError,
       "no Linux OS found, or (policy azure) a distribution/version ADE does not support"},
      {"os-volume-unsupported", Severity::kError, "ADE supports only data volumes on this distribution/version"},
      {"lvm-os-volume", Severity::kInfo, "the root filesystem is on LVM: vhdcrypt encrypts its physical volume"},
      {"lvm-os-volume-unsupported", Severity::kError,
       "the root volume group is not one physical volume on a partition of the OS disk"},
      {"no-plaintext-boot", Severity::kInfo, "no separate /boot: vhdcrypt splits /boot out itself"},
      {"fstab-nonpersistent-name", Severity::kError, "an fstab entry uses a kernel device name such as /dev/sdb1"},
      {"fstab-missing-nofail", Severity::kError, "a data volume in fstab lacks the nofail option"},
      {"fstab-under-mnt", Severity::kError, "a data volume is mounted under /mnt, the Azure resource disk"},
      {"fstab-nested-mount", Severity::kError, "a data volume is mounted inside another data volume"},
      {"fstab-unresolved", Severity::kWarning, "an fstab entry matches no filesystem on the given disks"},
      {"vfat-missing", Severity::kError, "a kernel lacks vfat, fat, nls_cp437 or nls_iso8859_1/nls_utf8"},
      {"vfat-disabled", Severity::kError, "modprobe.d blacklists or overrides a vfat/nls module"},
      {"dm-crypt-missing", Severity::kError, "a kernel lacks dm_crypt, or modprobe.d disables it"},
      {"cryptsetup-missing", Severity::kError, "cryptsetup or its initramfs integration is not installed"},
      {"initramfs-tool-missing", Severity::kError, "neither initramfs-tools nor dracut is installed"},
      {"already-encrypted", Severity::kError, "a volume is already LUKS, or /etc/crypttab has entries"},
      {"selinux-enforcing", Severity::kInfo, "SELinux is enforcing: vhdcrypt relabels what it edits"},
      {"agent-too-old", Severity::kError, "(policy azure) the Azure Linux agent is older than 2.2.38"},
      {"legacy-extension", Severity::kWarning, "files left by the deprecated ADE extension"},
      {"boot-too-small", Severity::kError, "the separate /boot has less than 64 MiB free"},
      {"unsupported-filesystem", Severity::kError, "a volume to encrypt is not ext2/ext3/ext4/xfs"},
  };
  return kRules;
}

namespace rules {

void Findings::Add(std::string_view id, std::string subject, std::string message, std::string remedy) {
  for (const auto& rule : AllRules()) {
    if (id == rule.id) {
      list_.push_back(Finding{rule.id, rule.severity, std::move(message), std::move(remedy), std::move(subject)});
      return;
    }
  }
  std::abort();  // a rule reported an id missing from AllRules(): a programming error
}

namespace {

using guest::CompareVersions;
using guest::Facts;
using guest::OsFacts;
using guest::ParseVersion;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kBootFreeRequired = 64 * kMiB;

// The distro as the rules see it. libguestfs does not know CBL-Mariner and
// reports "unknown"; /etc/os-release still says ID=mariner, VERSION_ID=2.0.
struct Distro {
  std::string id;
  int major = 0;
  int minor = 0;
};

Distro EffectiveDistro(const OsFacts& os) {
  Distro d{Lower(os.distro), os.major, os.minor};
  if ((d.id.empty() || d.id == "unknown") && !os.os_release_id.empty()) {
    d.id = Lower(os.os_release_id);
    auto v = ParseVersion(os.os_release_version_id);
    d.major = v.size() > 0 ? static_cast<int>(v[0]) : 0;
    d.minor = v.size() > 1 ? static_cast<int>(v[1]) : 0;
  }
  return d;
}

// "ubuntu 22.04", "rhel 8.6", "sles 12 SP3": how users write these versions.
std::string DistroLabel(const Distro& d) {
  std::string minor = std::to_string(d.minor);
  if (d.id == "ubuntu" && minor.size() < 2) minor = "0" + minor;
  if (d.id == "sles") return d.id + " " + std::to_string(d.major) + (d.minor ? " SP" + minor : "");
  return d.id + " " + std::to_string(d.major) + "." + minor;
}

// ADE's published support matrix for Linux.
struct AdeRow {
  const char* distro;
  int major;
  int min_minor;
  int max_minor;
  bool os_volume;  // false: data volumes only
};
constexpr AdeRow kAdeMatrix[] = {
    {"ubuntu", 18, 4, 4, true},  {"ubuntu", 20, 4, 4, true},    {"ubuntu", 22, 4, 4, true},
    {"rhel", 7, 4, 9, true},     {"rhel", 8, 1, 7, true},       {"centos", 7, 4, 9, true},
    {"centos", 8, 1, 4, true},   {"centos", 6, 8, 8, false},    {"oraclelinux", 8, 5, 6, true},
    {"mariner", 2, 0, 99, true}, {"opensuse", 42, 3, 3, false}, {"sles", 12, 3, 4, false},
};
constexpr const char* kAdeMatrixText =
    "Ubuntu 18.04, 20.04, 22.04; RHEL 7.4-7.9, 8.1-8.7; CentOS 7.4-7.9, 8.1-8.4; Oracle Linux 8.5, 8.6; "
    "CBL-Mariner 2; data volumes only: CentOS 6.8, openSUSE 42.3, SLES 12 SP3/SP4";

const AdeRow* FindAdeRow(const Distro& d) {
  for (const auto& row : kAdeMatrix) {
    if (d.id == row.distro && d.major == row.major && d.minor >= row.min_minor && d.minor <= row.max_minor) {
      return &row;
    }
  }
  return nullptr;
}

bool IsDebianFamily(const Facts& facts) {
  const std::string id = EffectiveDistro(facts.os).id;
  if (facts.initramfs_tool == "initramfs-tools") return true;
  if (facts.initramfs_tool == "dracut") return false;
  return id == "ubuntu" || id == "debian" || id == "linuxmint";
}

// "run `apt-get install PACKAGES` in the guest", in the guest's own package manager.
std::string Install(const Facts& facts, const std::string& packages) {
  const std::string id = EffectiveDistro(facts.os).id;
  std::string tool;
  if (id == "ubuntu" || id == "debian" || id == "linuxmint") tool = "apt-get install";
  if (id == "sles" || id == "opensuse") tool = "zypper install";
  if (id == "mariner") tool = "tdnf install";
  if (id == "rhel" || id == "centos" || id == "oraclelinux" || id == "fedora" || id == "rocky" || id == "almalinux") {
    tool = "yum install";
  }
  if (tool.empty()) return "install " + packages + " with the guest's package manager";
  return "run `" + tool + " " + packages + "` in the guest";
}

// The package that ships a kernel's modules, by distro.
std::string KernelModulesPackage(const Facts& facts, const std::string& version) {
  const std::string id = EffectiveDistro(facts.os).id;
  if (id == "ubuntu") return "linux-modules-" + version;
  if (id == "debian") return "linux-image-" + version;
  if (id == "sles" || id == "opensuse") return "kernel-default";
  if (id == "rhel" || id == "centos" || id == "oraclelinux" || id == "fedora" || id == "rocky" || id == "almalinux") {
    return "kernel-core-" + version;
  }
  return "the modules package of kernel " + version;
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::string MiB(uint64_t bytes) {
  const uint64_t tenths = bytes * 10 / kMiB;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MiB";
}

// Returns false when the guest is not a Linux OS: the other rules have nothing to judge.
bool CheckDistro(const Facts& facts, const CheckOptions& options, Findings* out) {
  if (!facts.os.found) {
    out->Add("distro-unsupported", facts.image, "no operating system found in " + facts.image,
             "check that the image is a bootable Linux disk with its root filesystem on disk 0 "
             "(the OS image, not a data disk)");
    return false;
  }
  if (Lower(facts.os.type) != "linux") {
    out->Add("distro-unsupported", facts.os.type.empty() ? facts.image : facts.os.type,
             facts.image + " holds a " + (facts.os.type.empty() ? std::string("non-Linux") : facts.os.type) +
                 " system" + (facts.os.product_name.empty() ? "" : " (" + facts.os.product_name + ")") + ", not Linux",
             "vhdcrypt prepares Linux images only; encrypt Windows images with BitLocker");
    return false;
  }
  if (options.policy != Policy::kAzure) return true;
  const Distro d = EffectiveDistro(facts.os);
  const std::string label = DistroLabel(d);
  const std::string name = facts.os.product_name.empty() ? label : facts.os.product_name + " (" + label + ")";
  const AdeRow* row = FindAdeRow(d);
  if (row == nullptr) {
    out->Add("distro-unsupported", label, name + " is not in Azure Disk Encryption's support matrix",
             std::string("use a supported release (") + kAdeMatrixText +
                 "), or check with --policy generic to prepare the image for use outside ADE");
  } else if (!row->os_volume && IncludesOs(options.volume_type)) {
    out->Add("os-volume-unsupported", label,
             name + " is supported by Azure Disk Encryption for data volumes only, not for the OS volume",
             "encrypt data volumes only with --volume-type data, or move to a release ADE supports for OS "
             "volumes (Ubuntu 22.04, RHEL 8.x)");
  }
  return true;
}

void CheckLayout(const Facts& facts, const CheckOptions& options, Findings* out) {
  if (!IncludesOs(options.volume_type)) return;
  const std::string root = facts.os.root.empty() ? "/" : facts.os.root;
  if (facts.root_on_lvm) {
    const std::string vgs =
        facts.volume_groups.empty() ? "" : " (volume groups: " + Join(facts.volume_groups, ", ") + ")";
    if (const guest::Filesystem* single = guest::SingleRootPv(facts)) {
      const std::string pv = single->device;
      out->Add("lvm-os-volume", root,
               "the root filesystem " + root + " is an LVM logical volume" + vgs + " on the physical volume " + pv,
               "nothing to do: vhdcrypt encrypts " + pv +
                   " (header detached on /boot) and the guest opens it "
                   "before activating the volume group");
    } else {
      std::vector<std::string> pvs;
      for (const auto& p : facts.root_pvs) pvs.push_back(p.device);
      out->Add("lvm-os-volume-unsupported", root,
               "the root filesystem " + root + " is an LVM logical volume" + vgs + " whose volume group has " +
                   std::to_string(pvs.size()) + " physical volume(s)" +
                   (pvs.empty() ? std::string() : " (" + Join(pvs, ", ") + ")") +
                   "; vhdcrypt encrypts a root volume group only when it is one partition of the OS disk",
               "encrypt data volumes only with --volume-type data, or rebuild the image with the root volume "
               "group on one partition");
    }
  }
  if (!facts.separate_boot) {
    out->Add("no-plaintext-boot", "/boot",
             "/boot is part of the root filesystem " + root +
                 ": vhdcrypt will split /boot out onto a new plaintext partition itself, as ADE requires",
             "nothing to do; to choose the layout yourself, give the image a separate /boot partition of at "
             "least 256 MiB before encrypting");
  } else if (facts.boot_free_bytes < kBootFreeRequired) {
    const std::string dev = facts.boot_device.empty() ? "/boot" : facts.boot_device;
    const uint64_t short_by = kBootFreeRequired - facts.boot_free_bytes;
    out->Add("boot-too-small", dev,
             "/boot (" + dev + ") has " + std::to_string(facts.boot_free_bytes) + " bytes free (" +
                 MiB(facts.boot_free_bytes) + "); vhdcrypt needs " + std::to_string(kBootFreeRequired) +
                 " bytes (64 MiB) for the detached LUKS header and the regenerated initramfs",
             "free at least " + std::to_string(short_by) + " more bytes (" + MiB(short_by) +
                 ") in /boot: remove unused kernels and their initramfs images (Ubuntu: `apt-get autoremove "
                 "--purge`; RHEL: `dnf remove --oldinstallonly`), or grow the /boot partition");
  }
}

bool Provides(const guest::Kernel& k, const char* module) {
  auto it = k.modules.find(module);
  return it != k.modules.end() && it->second.present();
}

// The files modules.dep lists for absent modules that the guest does not
// have: "; modules.dep lists vfat but /lib/modules/V/kernel/fs/fat/fat.ko
// is missing" (empty when every absent module is simply not listed).
std::string MissingFiles(const guest::Kernel& k, const std::vector<std::string>& modules) {
  std::string out;
  for (const auto& m : modules) {
    auto it = k.modules.find(m);
    if (it == k.modules.end() || !it->second.loadable || it->second.missing_file.empty()) continue;
    out += "; modules.dep lists " + m + " but " + it->second.missing_file + " is missing or empty";
  }
  return out;
}

std::string KernelRemedy(const Facts& facts, const guest::Kernel& k, const char* configs,
                         const std::string& missing_files) {
  if (!missing_files.empty()) {
    return "reinstall " + KernelModulesPackage(facts, k.version) + " in the guest (its module files are gone)";
  }
  if (!k.has_modules_dep) {
    return "run `depmod " + k.version + "` in the guest (/lib/modules/" + k.version +
           "/modules.dep is missing), or reinstall " + KernelModulesPackage(facts, k.version);
  }
  return Install(facts, KernelModulesPackage(facts, k.version)) + ", or build the kernel with " + configs;
}

bool IsVfatModule(const std::string& m) {
  return m == "vfat" || m == "fat" || m == "nls_cp437" || m == "nls_iso8859_1" || m == "nls_utf8";
}

std::string RuleLocation(const guest::ModprobeRule& r) { return r.file + ":" + std::to_string(r.line); }

std::string RuleDescription(const guest::ModprobeRule& r) {
  const std::string what = r.kind == guest::ModprobeRule::Kind::kBlacklist
                               ? "blacklists " + r.module
                               : "replaces the loading of " + r.module + " with an install command";
  return r.file + " line " + std::to_string(r.line) + " " + what + (r.text.empty() ? "" : ": `" + r.text + "`");
}

void CheckKernels(const Facts& facts, Findings* out) {
  if (facts.kernels.empty()) {
    out->Add("vfat-missing", "/lib/modules",
             "no kernel found under /lib/modules: vfat support for the BEK VOLUME key volume cannot be confirmed",
             "install a kernel in the image (Ubuntu: linux-azure; RHEL/CentOS: kernel) and check again");
  }
  for (const auto& k : facts.kernels) {
    const std::string subject = "/lib/modules/" + k.version;
    std::vector<std::string> missing;
    std::vector<std::string> absent;  // the module names behind `missing`
    for (const char* m : {"vfat", "fat", "nls_cp437"}) {
      if (Provides(k, m)) continue;
      missing.emplace_back(m);
      absent.emplace_back(m);
    }
    if (!Provides(k, "nls_iso8859_1") && !Provides(k, "nls_utf8")) {
      missing.emplace_back("(nls_iso8859_1 or nls_utf8)");
      absent.insert(absent.end(), {"nls_iso8859_1", "nls_utf8"});
    }
    if (!missing.empty()) {
      const std::string files = MissingFiles(k, absent);
      out->Add(
          "vfat-missing", subject,
          "kernel " + k.version + " has neither a module nor a built-in for " + Join(missing, ", ") + files +
              ": it could not read the BEK VOLUME key volume at boot",
          KernelRemedy(facts, k, "CONFIG_VFAT_FS, CONFIG_FAT_FS, CONFIG_NLS_CODEPAGE_437 and CONFIG_NLS_UTF8", files));
    }
    if (!Provides(k, "dm_crypt")) {
      const std::string files = MissingFiles(k, {"dm_crypt"});
      out->Add("dm-crypt-missing", subject,
               "kernel " + k.version + " has neither a dm_crypt module nor a built-in" + files +
                   ": it could not open LUKS volumes",
               KernelRemedy(facts, k, "CONFIG_DM_CRYPT", files));
    }
  }
  for (const auto& r : facts.modprobe_rules) {
    if (IsVfatModule(r.module)) {
      out->Add("vfat-disabled", RuleLocation(r),
               RuleDescription(r) + "; the guest must load it to read the BEK VOLUME key volume",
               "delete line " + std::to_string(r.line) + " of " + r.file);
    } else if (r.module == "dm_crypt") {
      out->Add("dm-crypt-missing", RuleLocation(r), RuleDescription(r) + "; the guest could not open LUKS volumes",
               "delete line " + std::to_string(r.line) + " of " + r.file);
    }
  }
}

void CheckPackages(const Facts& facts, const CheckOptions& options, Findings* out) {
  const bool debian = IsDebianFamily(facts);
  if (!facts.cryptsetup_installed) {
    out->Add("cryptsetup-missing", "cryptsetup",
             "cryptsetup is not installed (no /sbin/cryptsetup or /usr/sbin/cryptsetup): the guest could not "
             "unlock its volumes",
             Install(facts, "cryptsetup"));
  }
  // Only the OS volume is unlocked from the initramfs.
  if (!IncludesOs(options.volume_type)) return;
  if (!facts.cryptsetup_initramfs_installed) {
    if (debian) {
      out->Add("cryptsetup-missing", "cryptsetup-initramfs",
               "cryptsetup-initramfs is not installed: the initramfs built by initramfs-tools could not unlock "
               "the root volume",
               Install(facts, "cryptsetup-initramfs"));
    } else {
      out->Add("cryptsetup-missing", "dracut:crypt",
               "dracut's crypt module (modules.d/90crypt) is missing: the initramfs could not unlock the root volume",
               Install(facts, "dracut cryptsetup"));
    }
  }
  if (facts.initramfs_tool.empty()) {
    out->Add("initramfs-tool-missing", "initramfs",
             "neither initramfs-tools (update-initramfs) nor dracut is installed: vhdcrypt cannot regenerate the "
             "initramfs that unlocks the root volume",
             Install(facts, debian ? "initramfs-tools" : "dracut"));
  }
}

void CheckMisc(const Facts& facts, const CheckOptions& options, Findings* out) {
  if (Lower(facts.selinux_mode) == "enforcing") {
    if (facts.setfiles_installed) {
      out->Add("selinux-enforcing", "/etc/selinux/config",
               "SELinux is enforcing (SELINUX=enforcing in /etc/selinux/config): vhdcrypt restores the labels of "
               "every file it edits with the guest's setfiles",
               "nothing to do; vhdcrypt relabels after editing");
    } else {
      out->Add("selinux-enforcing", "/etc/selinux/config",
               "SELinux is enforcing (SELINUX=enforcing in /etc/selinux/config) but setfiles is not installed: "
               "vhdcrypt makes the guest relabel every file at its next boot (/.autorelabel), one more reboot",
               "install policycoreutils in the image to have the labels restored offline");
    }
  }
  if (options.policy == Policy::kAzure && facts.agent_version) {
    static const std::vector<uint64_t> kMinimum = {2, 2, 38};
    const auto version = ParseVersion(*facts.agent_version);
    if (!version.empty() && CompareVersions(version, kMinimum) < 0) {
      out->Add("agent-too-old", "waagent",
               "the Azure Linux agent (waagent) is version " + *facts.agent_version +
                   ", older than 2.2.38, the oldest Azure Disk Encryption supports",
               "update the agent to 2.2.38 or newer: " +
                   Install(facts, IsDebianFamily(facts) ? "walinuxagent" : "WALinuxAgent"));
    }
  }
  for (const auto& path : facts.legacy_ade_traces) {
    out->Add("legacy-extension", path,
             path +
                 " was left by the deprecated Azure Disk Encryption extension (the version with Azure AD "
                 "parameters)",
             "remove it from the image (`rm -rf " + path +
                 "` in the guest); if the image came from a VM that extension encrypted, start from an "
                 "unencrypted image instead");
  }
}

// Natural order: runs of digits compare as numbers, so "/etc/fstab:3" < "/etc/fstab:10".
int NaturalCompare(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t i0 = i, j0 = j;
      while (i0 < a.size() && a[i0] == '0') ++i0;
      while (j0 < b.size() && b[j0] == '0') ++j0;
      size_t i1 = i0, j1 = j0;
      while (i1 < a.size() && digit(a[i1])) ++i1;
      while (j1 < b.size() && digit(b[j1])) ++j1;
      if (i1 - i0 != j1 - j0) return i1 - i0 < j1 - j0 ? -1 : 1;
      if (int c = a.compare(i0, i1 - i0, b, j0, j1 - j0); c != 0) return c < 0 ? -1 : 1;
      i = i1;
      j = j1;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]) ? -1 : 1;
      ++i;
      ++j;
    }
  }
  if (i < a.size() || j < b.size()) return i < a.size() ? 1 : -1;
  return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1);  // "07" vs "7": fall back to plain order
}

bool FindingLess(const Finding& a, const Finding& b) {
  if (a.severity != b.severity) return a.severity < b.severity;
  if (a.id != b.id) return a.id < b.id;
  if (int c = NaturalCompare(a.subject, b.subject); c != 0) return c < 0;
  return a.message < b.message;
}

}  // namespace
}  // namespace rules

std::vector<Finding> RunRules(const guest::Facts& facts, const CheckOptions& options) {
  rules::Findings out;
  if (rules::CheckDistro(facts, options, &out)) {
    rules::CheckLayout(facts, options, &out);
    rules::CheckFstabAndVolumes(facts, options, &out);
    rules::CheckKernels(facts, &out);
    rules::CheckPackages(facts, options, &out);
    rules::CheckMisc(facts, options, &out);
  }
  std::vector<Finding> list = std::move(out.list());
  std::stable_sort(list.begin(), list.end(), rules::FindingLess);
  return list;
}

}  // namespace vhdcrypt
