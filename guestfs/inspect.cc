#include "guestfs/inspect.h"

#include <sys/sysmacros.h>
#include <sys/types.h>

#include <algorithm>
#include <optional>
#include <set>
#include <sstream>

#include "base/strings.h"
#include "formats/gpt.h"
#include "formats/partition_table.h"
#include "guestfs/fstab_spec.h"
#include "guestfs/handle.h"
#include "guestfs/os_identity.h"
#include "guestfs/version.h"

namespace vhdcrypt::guest {
namespace {

// The modules ADE's boot path needs: vfat (and its deps) to read the key
// volume, dm_crypt to open LUKS.
const char* const kWatchedModules[] = {"vfat", "fat", "nls_cp437", "nls_iso8859_1", "nls_utf8", "dm_crypt"};

// modprobe.d files read at most (a guest has a few dozen).
constexpr size_t kMaxModprobeFiles = 1000;
// Kernels (directories of /lib/modules) read at most (a guest has one to three).
constexpr size_t kMaxKernels = 64;
// fstab entries naming a filesystem by UUID, LABEL, PARTUUID or PARTLABEL, at
// most, in the fstab of a filesystem that could be a root. A real guest has a
// few dozen; a flood of them is refused before any is resolved (libguestfs'
// inspect_os, which vhdcrypt used before it identified roots itself, resolved
// each in the appliance at 0.4 s apiece: 20,000 kept check busy 12 minutes).
constexpr size_t kMaxNamedFstabEntries = 100;

const char* const kLegacyAdeGlobs[] = {
    "/var/lib/azure_disk_encryption_config",
    "/var/lib/azure_disk_encryption_backup_config",
    "/var/lib/waagent/Microsoft.Azure.Security.AzureDiskEncryptionForLinux*",
    "/var/log/azure/Microsoft.Azure.Security.AzureDiskEncryptionForLinux*",
};

// Split on the blanks Trim trims (as libmount and systemd do), not on
// isspace(): "\f" alone was a line with no field, and crypttab's fields[0]
// read past the end (found by guest_fuzz).
std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (true) {
    i = line.find_first_not_of(kBlanks, i);
    if (i == std::string::npos) break;
    const size_t end = std::min(line.find_first_of(kBlanks, i), line.size());
    out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string Canonical(std::string module) {
  std::replace(module.begin(), module.end(), '-', '_');
  return module;
}

// "/dev/sdab12" -> drive 27 and partition "12" (the letters count as
// ApplianceDevice writes them); nothing for names that are not /dev/sdX[N]
// or /dev/vdX[N].
std::optional<std::pair<size_t, std::string>> SplitDiskName(const std::string& dev) {
  if (dev.rfind("/dev/sd", 0) != 0 && dev.rfind("/dev/vd", 0) != 0) return std::nullopt;
  size_t i = 7;
  size_t number = 0;  // bijective base 26: a = 1, z = 26, aa = 27
  for (; i < dev.size() && dev[i] >= 'a' && dev[i] <= 'z' && i < 7 + 4; ++i) number = number * 26 + (dev[i] - 'a' + 1);
  if (number == 0) return std::nullopt;
  const std::string rest = dev.substr(i);
  if (!std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  return std::make_pair(number - 1, rest);
}

// Module lists of a kernel (modules.dep, modules.builtin) run to a few
// hundred KiB; configuration files are held to kMaxConfigFileBytes.
constexpr uint64_t kMaxModuleListBytes = uint64_t{16} << 20;

// A file's lines if it exists (else none), read with a bound; a file that is
// too big or not a regular file is an error naming it.
Result<std::vector<std::string>> LinesIfPresent(Handle& h, const std::string& path,
                                                uint64_t max_bytes = kMaxConfigFileBytes) {
  ASSIGN_OR_RETURN(auto lines, h.ReadGuestLines(path, max_bytes));
  return lines ? std::move(*lines) : std::vector<std::string>{};
}

bool AnyExists(Handle& h, std::initializer_list<const char*> paths) {
  for (const char* p : paths) {
    auto e = h.Exists(p);
    if (e.ok() && *e) return true;
  }
  return false;
}

std::vector<std::string> GlobOrEmpty(Handle& h, const std::string& pattern) {
  auto r = h.Glob(pattern);
  return r.ok() ? *r : std::vector<std::string>{};
}

// Partition `number` of disk `disk` in the tables read from the images;
// nullptr for whole disks, LVs and numbers the table does not have.
const Partition* FindPartition(const std::vector<PartitionTable>& disks, int disk, int number) {
  if (number <= 0 || disk < 0 || static_cast<size_t>(disk) >= disks.size()) return nullptr;
  for (const auto& p : disks[static_cast<size_t>(disk)].partitions) {
    if (p.number == static_cast<uint32_t>(number)) return &p;
  }
  return nullptr;
}

// Size, PARTUUID and PARTLABEL of a filesystem's partition, if it has one.
void CopyPartitionFacts(const Partition* part, Filesystem& fs) {
  if (part == nullptr) return;
  fs.size = part->size;
  fs.partuuid = Lower(part->uuid);
  fs.partlabel = part->name;
}

// The PVs of the volume group of / ("/dev/vg0/root" -> vg0).
Status CollectRootPvs(Handle& h, const std::vector<PartitionTable>& disks, const std::string& root, Facts& f) {
  const std::string prefix = "/dev/";
  const auto slash = root.find('/', prefix.size());
  if (root.rfind(prefix, 0) != 0 || slash == std::string::npos) return {};
  const std::string vg = root.substr(prefix.size(), slash - prefix.size());
  ASSIGN_OR_RETURN(auto members, h.VgPvUuids(vg));
  ASSIGN_OR_RETURN(auto pvs, h.PvUuids());
  for (const auto& [dev, uuid] : pvs) {
    if (std::find(members.begin(), members.end(), uuid) == members.end()) continue;
    Filesystem pv;
    pv.device = dev;
    pv.type = "LVM2_member";
    pv.uuid = uuid;
    pv.disk = ApplianceDiskIndex(dev);
    pv.partition = AppliancePartitionNumber(dev);
    CopyPartitionFacts(FindPartition(disks, pv.disk, pv.partition), pv);
    f.root_pvs.push_back(std::move(pv));
  }
  return {};
}

// A partition that cannot hold a filesystem, as libguestfs' list_filesystems
// decides it: an MBR extended container, Windows' LDM, reserved and snapshot
// partitions.
bool CannotHoldFilesystem(const Partition& p) {
  static const std::set<std::string> kSkipped = {"0x05",
                                                 "0x0f",
                                                 "0x85",
                                                 "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3",
                                                 "AF9B60A0-1431-4F62-BC68-3311714A69AD",
                                                 "E3C9E316-0B5C-4DB8-817D-F92DF00215AE",
                                                 "CADDEBF1-4400-4DE8-B103-12117DCF3CCF"};
  return kSkipped.count(p.type) != 0;
}

// The devices that may hold a filesystem: whole disks without a partition
// table, partitions, MD devices and logical volumes. libguestfs'
// list_filesystems picks the same ones but asks parted about every partition
// (2 s per question without KVM: 10.7 s for a two-partition disk), and
// inspect_os asks all over again; the partition tables are known here already.
Result<std::vector<std::string>> FilesystemCandidates(Handle& h, const std::vector<PartitionTable>& disks,
                                                      const Facts& f) {
  std::vector<std::string> out;
  ASSIGN_OR_RETURN(auto devices, h.ListDevices());
  for (const auto& dev : devices) {
    const auto i = static_cast<size_t>(ApplianceDiskIndex(dev));
    if (i < disks.size() && disks[i].kind == TableKind::kNone) out.push_back(dev);
  }
  ASSIGN_OR_RETURN(auto partitions, h.ListPartitions());
  for (const auto& dev : partitions) {
    const Partition* p = FindPartition(disks, ApplianceDiskIndex(dev), AppliancePartitionNumber(dev));
    if (p == nullptr || !CannotHoldFilesystem(*p)) out.push_back(dev);
  }
  if (auto mds = h.ListMdDevices(); mds.ok()) out.insert(out.end(), mds->begin(), mds->end());
  out.insert(out.end(), f.logical_volumes.begin(), f.logical_volumes.end());
  return out;
}

// Partition tables come from formats/ (read before launch, straight from the
// image bytes, one per disk); the appliance is asked only what needs a
// filesystem driver: one blkid per candidate device.
Status CollectFilesystems(Handle& h, const std::vector<PartitionTable>& disks, Facts& f) {
  ASSIGN_OR_RETURN(auto candidates, FilesystemCandidates(h, disks, f));
  const std::set<std::string> lvs(f.logical_volumes.begin(), f.logical_volumes.end());
  for (const auto& dev : candidates) {
    Filesystem fs;
    fs.device = dev;
    fs.type = "unknown";
    if (auto tags = h.Blkid(dev); tags.ok()) {
      const std::string& type = (*tags)["TYPE"];
      // As list_filesystems: members of RAID or LVM sets (PVs) and LUKS or
      // BitLocker volumes are containers, not filesystems.
      if (type.ends_with("_member") || type == "crypto_LUKS" || type == "BitLocker") continue;
      if (!type.empty()) fs.type = type;
      fs.uuid = (*tags)["UUID"];
      fs.label = (*tags)["LABEL"];
    }
    fs.on_lvm = lvs.count(dev) != 0;
    fs.disk = fs.on_lvm ? 0 : ApplianceDiskIndex(dev);
    fs.partition = fs.on_lvm ? 0 : AppliancePartitionNumber(dev);
    if (const Partition* part = FindPartition(disks, fs.disk, fs.partition)) {
      CopyPartitionFacts(part, fs);
    } else if (auto size = h.DeviceSize(dev); size.ok()) {
      fs.size = *size;
    }
    f.filesystems.push_back(fs);
  }
  std::sort(f.filesystems.begin(), f.filesystems.end(),
            [](const Filesystem& a, const Filesystem& b) { return a.device < b.device; });
  return {};
}

void CollectBootPartitions(const std::vector<PartitionTable>& disks, Facts& f) {
  for (const auto& d : disks) {
    for (const auto& p : d.partitions) {
      if (p.type == kGptTypeEfiSystem || p.type == "0xef") f.has_esp = true;
      if (p.type == kGptTypeBiosBoot) f.has_bios_boot = true;
    }
  }
}

// modules.dep lists a module with the files it depends on ("kernel/fs/fat/
// vfat.ko: kernel/fs/fat/fat.ko"); a stripped or damaged tree can list files
// that are gone, and modprobe then fails at boot. The first such file is
// recorded on the module (a dozen watched modules, a few files each).
Status FindMissingModuleFile(Handle& h, const std::string& dir, const std::string& module_path, const std::string& deps,
                             ModuleState& m) {
  std::vector<std::string> files{module_path};
  for (auto& f : Fields(deps)) files.push_back(std::move(f));
  constexpr size_t kMaxFilesChecked = 64;  // a hostile line may list thousands
  for (size_t i = 0; i < files.size() && i < kMaxFilesChecked; ++i) {
    const std::string& rel = files[i];
    // Paths are relative to the kernel's directory; an absolute one (old
    // depmod) is taken as it is. ".." stays inside the guest's root anyway.
    const std::string path = rel.empty() || rel[0] == '/' ? rel : dir + "/" + rel;
    if (path.empty()) continue;
    ASSIGN_OR_RETURN(bool ok, h.IsNonEmptyFile(path));
    if (!ok) {
      m.missing_file = path;
      return {};
    }
  }
  return {};
}

Status CollectKernels(Handle& h, Facts& f) {
  std::vector<std::string> versions;
  if (auto d = h.IsDir("/lib/modules"); d.ok() && *d) {
    if (auto ls = h.Ls("/lib/modules"); ls.ok()) versions = *ls;
  }
  // Each kernel costs a dozen round trips to the appliance: a guest with
  // thousands of directories there would keep check busy for hours.
  if (versions.size() > kMaxKernels) {
    return InvalidInput("the guest has " + std::to_string(versions.size()) +
                        " entries in /lib/modules, more than the " + std::to_string(kMaxKernels) +
                        " kernels vhdcrypt reads");
  }
  std::sort(versions.begin(), versions.end());
  for (const auto& v : versions) {
    const std::string dir = "/lib/modules/" + v;
    auto is_dir = h.IsDir(dir);
    if (!is_dir.ok() || !*is_dir) continue;
    Kernel k;
    k.version = v;
    for (const char* m : kWatchedModules) k.modules[m] = ModuleState{};
    for (const char* m : kBootStorageDrivers) k.modules[m] = ModuleState{};
    ASSIGN_OR_RETURN(auto dep, LinesIfPresent(h, dir + "/modules.dep", kMaxModuleListBytes));
    k.has_modules_dep = !dep.empty();
    for (const auto& line : dep) {
      const auto colon = line.find(':');
      const std::string path = Trim(line.substr(0, colon));
      auto it = k.modules.find(ModuleNameFromPath(path));
      if (it == k.modules.end() || it->second.loadable) continue;
      it->second.loadable = true;
      const std::string deps = colon == std::string::npos ? "" : line.substr(colon + 1);
      RETURN_IF_ERROR(FindMissingModuleFile(h, dir, path, deps, it->second));
    }
    if (!k.has_modules_dep) {
      // No modules.dep (e.g. a kernel installed without depmod): look for the files.
      for (const auto& path : GlobOrEmpty(h, dir + "/kernel/*/*/*.ko*")) {
        if (auto it = k.modules.find(ModuleNameFromPath(path)); it != k.modules.end()) it->second.loadable = true;
      }
    }
    ASSIGN_OR_RETURN(auto builtin, LinesIfPresent(h, dir + "/modules.builtin", kMaxModuleListBytes));
    for (const auto& line : builtin) {
      if (auto it = k.modules.find(ModuleNameFromPath(Trim(line))); it != k.modules.end()) it->second.builtin = true;
    }
    f.kernels.push_back(k);
  }
  return {};
}

Status CollectModprobe(Handle& h, Facts& f) {
  std::set<std::string> files;
  for (const char* dir : {"/etc/modprobe.d", "/lib/modprobe.d", "/usr/lib/modprobe.d", "/run/modprobe.d"}) {
    for (const auto& p : GlobOrEmpty(h, std::string(dir) + "/*.conf")) files.insert(p);
  }
  if (auto e = h.Exists("/etc/modprobe.conf"); e.ok() && *e) files.insert("/etc/modprobe.conf");
  if (files.size() > kMaxModprobeFiles) {
    return InvalidInput("the guest has " + std::to_string(files.size()) + " modprobe configuration files, more than " +
                        std::to_string(kMaxModprobeFiles) + " vhdcrypt reads");
  }
  for (const auto& file : files) {
    ASSIGN_OR_RETURN(auto lines, LinesIfPresent(h, file));
    auto rules = ParseModprobe(file, lines);
    f.modprobe_rules.insert(f.modprobe_rules.end(), rules.begin(), rules.end());
  }
  return {};
}

Status CollectAgent(Handle& h, Facts& f) {
  std::string best;
  for (const char* pattern : {"/usr/lib/python3*/dist-packages/azurelinuxagent/common/version.py",
                              "/usr/lib/python3*/site-packages/azurelinuxagent/common/version.py",
                              "/usr/lib/python2*/dist-packages/azurelinuxagent/common/version.py",
                              "/usr/lib/python2*/site-packages/azurelinuxagent/common/version.py",
                              "/usr/local/lib/python3*/dist-packages/azurelinuxagent/common/version.py"}) {
    for (const auto& path : GlobOrEmpty(h, pattern)) {
      ASSIGN_OR_RETURN(auto lines, LinesIfPresent(h, path));
      std::string v = AgentVersionFromSource(lines);
      if (!v.empty() && (best.empty() || CompareVersions(ParseVersion(v), ParseVersion(best)) > 0)) best = v;
    }
  }
  // Auto-updated agents live in /var/lib/waagent/WALinuxAgent-VERSION.
  for (const auto& path : GlobOrEmpty(h, "/var/lib/waagent/WALinuxAgent-*")) {
    std::string v = path.substr(path.rfind("WALinuxAgent-") + 13);
    if (!v.empty() && std::isdigit(static_cast<unsigned char>(v[0])) &&
        (best.empty() || CompareVersions(ParseVersion(v), ParseVersion(best)) > 0)) {
      best = v;
    }
  }
  if (!best.empty()) f.agent_version = best;
  return {};
}

Status CollectFromMountedGuest(Handle& h, Facts& f) {
  ASSIGN_OR_RETURN(auto osr, LinesIfPresent(h, "/etc/os-release"));
  if (osr.empty()) {
    ASSIGN_OR_RETURN(osr, LinesIfPresent(h, "/usr/lib/os-release"));
  }
  f.os.os_release_id = OsReleaseValue(osr, "ID");
  f.os.os_release_version_id = OsReleaseValue(osr, "VERSION_ID");

  ASSIGN_OR_RETURN(auto fstab, h.ReadGuestLines("/etc/fstab", kMaxConfigFileBytes));
  f.fstab_present = fstab.has_value();
  if (fstab) f.fstab = ParseFstab(*fstab);
  ASSIGN_OR_RETURN(auto crypttab, h.ReadGuestLines("/etc/crypttab", kMaxConfigFileBytes));
  f.crypttab_present = crypttab.has_value();
  if (crypttab) f.crypttab = ParseCrypttab(*crypttab);
  RETURN_IF_ERROR(CollectKernels(h, f));
  RETURN_IF_ERROR(CollectModprobe(h, f));

  // By the program: /usr/share/initramfs-tools also exists on dracut guests
  // (other packages' hooks live there).
  if (AnyExists(h, {"/usr/sbin/update-initramfs", "/sbin/update-initramfs"})) {
    f.initramfs_tool = "initramfs-tools";
  } else if (AnyExists(h, {"/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut"})) {
    f.initramfs_tool = "dracut";
  }
  f.cryptsetup_installed = AnyExists(h, {"/sbin/cryptsetup", "/usr/sbin/cryptsetup", "/usr/bin/cryptsetup"});
  f.cryptsetup_initramfs_installed =
      f.initramfs_tool == "dracut"
          ? AnyExists(h, {"/usr/lib/dracut/modules.d/90crypt", "/usr/share/dracut/modules.d/90crypt"})
          : AnyExists(h, {"/usr/share/initramfs-tools/hooks/cryptroot"});

  ASSIGN_OR_RETURN(auto selinux, LinesIfPresent(h, "/etc/selinux/config"));
  for (const auto& line : selinux) {
    std::string t = Trim(line);
    if (t.rfind("SELINUX=", 0) == 0) f.selinux_mode = Trim(t.substr(8));
    if (t.rfind("SELINUXTYPE=", 0) == 0) f.selinux_type = Trim(t.substr(12));
  }
  f.setfiles_installed = AnyExists(h, {"/sbin/setfiles", "/usr/sbin/setfiles"});
  RETURN_IF_ERROR(CollectAgent(h, f));
  for (const char* pattern : kLegacyAdeGlobs) {
    for (auto p : GlobOrEmpty(h, pattern)) {
      if (p.size() > 1 && p.back() == '/') p.pop_back();  // glob_expand marks directories
      f.legacy_ade_traces.push_back(p);
    }
  }
  std::sort(f.legacy_ade_traces.begin(), f.legacy_ade_traces.end());

  if (auto st = h.Statvfs("/"); st.ok()) {
    f.root_total_bytes = st->total_bytes;
    f.root_used_bytes = st->total_bytes - st->free_bytes;
  }
  if (f.separate_boot) {
    if (auto st = h.Statvfs("/boot"); st.ok()) {
      f.boot_total_bytes = st->total_bytes;
      f.boot_free_bytes = st->free_bytes;
    }
  }
  return {};
}

}  // namespace

int ApplianceDiskIndex(const std::string& dev) {
  const auto split = SplitDiskName(dev);
  return split ? static_cast<int>(split->first) : 0;
}

int AppliancePartitionNumber(const std::string& dev) {
  const auto split = SplitDiskName(dev);
  if (!split || split->second.empty() || split->second.size() > 9) return 0;
  return std::stoi(split->second);
}

std::string UserDeviceName(const std::vector<std::string>& images, const std::string& dev) {
  const auto split = SplitDiskName(dev);
  if (!split || split->first >= images.size()) return dev;
  const std::string& image = images[split->first];
  return split->second.empty() ? image : image + " partition " + split->second;
}

std::string UserFileName(const std::vector<std::string>& images, const std::string& dev, const std::string& file) {
  return file + " on " + UserDeviceName(images, dev);
}

const char* GuestfsFormat(ContainerKind kind) { return kind == ContainerKind::kRaw ? "raw" : "vpc"; }

const char kKernelDiskListing[] =
    "stat -c 'root %d' / && cd /dev/disk/by-path && for p in $(ls -1v); do case $p in *-part[0-9]*) continue;; esac; "
    "printf 'disk %s %s\\n' \"$(stat -L -c %t:%T \"$p\")\" \"$(readlink -f \"$p\")\"; done";

Result<std::vector<std::string>> ParseKernelDisks(const std::string& listing) {
  auto bad = [](const std::string& line, const char* why) {
    return Error(ErrorKind::kGuest, std::string("the appliance's disk listing: ") + why + ": \"" + line + "\"");
  };
  std::optional<dev_t> root;
  std::vector<std::pair<dev_t, std::string>> disks;
  std::istringstream in(listing);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string kind;
    words >> kind;
    if (kind == "root") {
      unsigned long long number = 0;
      if (!(words >> number)) return bad(line, "no device number");
      root = static_cast<dev_t>(number);
    } else if (kind == "disk") {
      std::string numbers, path;
      unsigned int major = 0, minor = 0;
      char colon = 0;
      if (!(words >> numbers >> path)) return bad(line, "want \"disk MAJOR:MINOR PATH\"");
      std::istringstream hex(numbers);
      if (!(hex >> std::hex >> major >> colon >> minor) || colon != ':' || path.rfind("/dev/", 0) != 0) {
        return bad(line, "want \"disk MAJOR:MINOR PATH\" (numbers in hex)");
      }
      disks.emplace_back(makedev(major, minor), path);
    } else if (!kind.empty()) {
      return bad(line, "unexpected line");
    }
  }
  if (!root) return Error(ErrorKind::kGuest, "the appliance's disk listing has no root device: \"" + listing + "\"");
  std::vector<std::string> out;
  for (const auto& [number, path] : disks) {
    if (number != *root) out.push_back(path);
  }
  // libguestfs' daemon translates by the same links, so they are there.
  if (out.empty()) return Error(ErrorKind::kGuest, "the appliance lists no disk under /dev/disk/by-path");
  return out;
}

Result<std::string> KernelDeviceName(const std::string& dev, const std::vector<std::string>& kernel_disks) {
  const auto split = SplitDiskName(dev);
  if (!split) return dev;
  const auto& [index, partition] = *split;
  if (index >= kernel_disks.size()) {
    return Error(ErrorKind::kGuest, dev + ": no such drive; the appliance has " + std::to_string(kernel_disks.size()) +
                                        " disk(s) besides its own");
  }
  const std::string& disk = kernel_disks[index];
  // Partitions of a disk whose name ends in a digit (nvme0n1) take a "p".
  const bool digit = !disk.empty() && disk.back() >= '0' && disk.back() <= '9';
  return partition.empty() ? disk : disk + (digit ? "p" : "") + partition;
}

std::string ApplianceDevice(size_t index, uint32_t partition) {
  std::string letters;
  for (size_t n = index + 1; n > 0; n = (n - 1) / 26) letters.insert(letters.begin(), char('a' + (n - 1) % 26));
  return "/dev/sd" + letters + (partition ? std::to_string(partition) : "");
}

std::string ModuleNameFromPath(const std::string& path) {
  std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  auto ko = base.find(".ko");
  if (ko != std::string::npos) base = base.substr(0, ko);
  return Canonical(base);
}

std::vector<FstabEntry> ParseFstab(const std::vector<std::string>& lines) {
  std::vector<FstabEntry> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string t = Trim(lines[i]);
    if (t.empty() || t[0] == '#') continue;
    auto fields = Fields(t);
    if (fields.size() < 2) continue;
    FstabEntry e;
    e.line = static_cast<int>(i + 1);
    e.spec = fields[0];
    e.file = fields[1];
    e.vfstype = fields.size() > 2 ? fields[2] : "";
    e.options = fields.size() > 3 ? fields[3] : "defaults";
    e.freq = fields.size() > 4 ? std::atoi(fields[4].c_str()) : 0;
    e.passno = fields.size() > 5 ? std::atoi(fields[5].c_str()) : 0;
    e.text = t;
    out.push_back(e);
  }
  return out;
}

std::vector<CrypttabEntry> ParseCrypttab(const std::vector<std::string>& lines) {
  std::vector<CrypttabEntry> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string t = Trim(lines[i]);
    if (t.empty() || t[0] == '#') continue;
    auto fields = Fields(t);
    if (fields.empty()) continue;
    CrypttabEntry e;
    e.line = static_cast<int>(i + 1);
    e.name = fields[0];
    e.device = fields.size() > 1 ? fields[1] : "";
    e.keyfile = fields.size() > 2 ? fields[2] : "";
    e.options = fields.size() > 3 ? fields[3] : "";
    e.text = t;
    out.push_back(e);
  }
  return out;
}

std::vector<ModprobeRule> ParseModprobe(const std::string& file, const std::vector<std::string>& lines) {
  std::vector<ModprobeRule> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string t = Trim(lines[i]);
    if (t.empty() || t[0] == '#') continue;
    auto fields = Fields(t);
    if (fields.size() < 2) continue;
    ModprobeRule r;
    r.file = file;
    r.line = static_cast<int>(i + 1);
    r.module = Canonical(fields[1]);
    r.text = t;
    if (fields[0] == "blacklist") {
      r.kind = ModprobeRule::Kind::kBlacklist;
      out.push_back(r);
    } else if (fields[0] == "install" && fields.size() >= 3) {
      // "install vfat /bin/true" (CIS hardening) makes modprobe run that
      // command instead of loading the module.
      const std::string& cmd = fields[2];
      static const std::set<std::string> kNoop = {"/bin/true", "/bin/false", "/usr/bin/true", "/usr/bin/false",
                                                  "true",      "false",      "/sbin/true",    "/sbin/false"};
      if (kNoop.count(cmd) != 0) {
        r.kind = ModprobeRule::Kind::kInstallOverride;
        out.push_back(r);
      }
    }
  }
  return out;
}

std::string OsReleaseValue(const std::vector<std::string>& lines, const std::string& key) {
  for (const auto& line : lines) {
    std::string t = Trim(line);
    if (t.rfind(key + "=", 0) != 0) continue;
    std::string v = t.substr(key.size() + 1);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
      v = v.substr(1, v.size() - 2);
    }
    return v;
  }
  return "";
}

std::string AgentVersionFromSource(const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    std::string t = Trim(line);
    if (t.rfind("AGENT_VERSION", 0) != 0) continue;
    auto q1 = t.find_first_of("'\"");
    if (q1 == std::string::npos) continue;
    auto q2 = t.find(t[q1], q1 + 1);
    if (q2 == std::string::npos) continue;
    return t.substr(q1 + 1, q2 - q1 - 1);
  }
  return "";
}

namespace {

// libguestfs' test for a Linux root, on the filesystem mounted at /: /etc and
// /bin (or the usr-merged link to usr/bin) directories, /etc/fstab or
// /etc/hosts a regular file (a symlink does not count), and not a /boot
// (grub's files at its top). Anything the appliance cannot answer is no root.
bool LooksLikeLinuxRoot(Handle& h) {
  auto yes = [](const Result<bool>& r) { return r.ok() && *r; };
  if (!yes(h.IsDir("/etc"))) return false;
  if (!yes(h.IsDir("/bin"))) {
    auto target = h.SymlinkTarget("/bin");
    if (!target.ok() || !*target || (**target != "usr/bin" && **target != "/usr/bin")) return false;
  }
  if (!yes(h.IsRegularFile("/etc/fstab")) && !yes(h.IsRegularFile("/etc/hosts"))) return false;
  for (const char* grub : {"/grub/menu.lst", "/grub/grub.conf", "/grub2/grub.cfg"}) {
    if (yes(h.IsRegularFile(grub))) return false;
  }
  return true;
}

// A Windows system root: a Windows (or WINNT) directory with System32 in it,
// in any case. Enough to say the image is not Linux; its product name would
// take the registry, which vhdcrypt does not read.
bool LooksLikeWindowsRoot(Handle& h) {
  auto top = h.Ls("/");
  if (!top.ok()) return false;
  for (const auto& dir : *top) {
    if (!EqualsNoCase(dir, "windows") && !EqualsNoCase(dir, "winnt")) continue;
    auto inside = h.Ls("/" + dir);
    if (!inside.ok()) continue;
    for (const auto& sub : *inside) {
      if (!EqualsNoCase(sub, "system32")) continue;
      auto dir_ok = h.IsDir("/" + dir + "/" + sub);
      if (dir_ok.ok() && *dir_ok) return true;
    }
  }
  return false;
}

// The Linux root mounted at /: its distro and version from the release files,
// its architecture from the first of kArchBinaries that is an ELF file.
OsFacts DescribeLinuxRoot(Handle& h, const std::string& device) {
  OsFacts os;
  os.found = true;
  os.root = device;
  os.type = "linux";
  const LinuxIdentity id = IdentifyLinux([&](const std::string& path) -> std::optional<std::vector<std::string>> {
    auto lines = h.ReadGuestLines(path, kMaxConfigFileBytes);
    if (!lines.ok() || !*lines) return std::nullopt;
    return std::move(**lines);
  });
  os.distro = id.distro;
  os.product_name = id.product_name;
  os.major = id.major;
  os.minor = id.minor;
  os.arch = "unknown";
  for (const char* binary : kArchBinaries) {
    auto head = h.ReadHead(binary, kElfHeaderBytes);
    if (!head.ok()) continue;
    if (std::string arch = ElfArchitecture(*head); !arch.empty()) {
      os.arch = arch;
      break;
    }
  }
  return os;
}

bool NamesAFilesystem(const std::string& spec) {
  for (const char* tag : {"UUID=", "LABEL=", "PARTUUID=", "PARTLABEL="}) {
    if (spec.rfind(tag, 0) == 0) return true;
  }
  return false;
}

struct FoundOs {
  OsFacts os;
  std::vector<FstabEntry> fstab;  // the root's /etc/fstab as read here (none for Windows)
};

// Every filesystem that could hold an operating system is mounted read-only
// once, in order (the OS image before the data disks, as libguestfs' roots
// were sorted): its /etc/fstab is read with vhdcrypt's bounds and screened,
// and the first root found is identified while it is mounted. A filesystem
// that does not mount is no root.
Result<std::optional<FoundOs>> FindOs(Handle& h, const Facts& f, const std::vector<std::string>& images) {
  std::vector<const Filesystem*> candidates;
  for (const auto& fs : f.filesystems) {
    // LUKS volumes and LVM PVs never reach f.filesystems (CollectFilesystems).
    if (fs.type != "swap" && fs.type != "unknown") candidates.push_back(&fs);
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const Filesystem* a, const Filesystem* b) {
    return std::make_pair(ApplianceDiskIndex(a->device), a->device) <
           std::make_pair(ApplianceDiskIndex(b->device), b->device);
  });
  std::optional<FoundOs> found;
  for (const Filesystem* fs : candidates) {
    if (!h.MountRo(fs->device, "/").ok()) continue;
    auto lines = h.ReadGuestLines("/etc/fstab", kMaxConfigFileBytes);
    std::vector<FstabEntry> entries;
    if (lines.ok() && *lines) entries = ParseFstab(**lines);
    const auto named = static_cast<size_t>(
        std::count_if(entries.begin(), entries.end(), [](const FstabEntry& e) { return NamesAFilesystem(e.spec); }));
    if (named > kMaxNamedFstabEntries) {
      (void)h.UmountAll();
      return InvalidInput(UserDeviceName(images, fs->device) + ": guest file /etc/fstab has " + std::to_string(named) +
                          " entries naming a filesystem by UUID, LABEL, PARTUUID or PARTLABEL, more than the " +
                          std::to_string(kMaxNamedFstabEntries) + " vhdcrypt inspects");
    }
    if (!found && LooksLikeLinuxRoot(h)) {
      found = FoundOs{DescribeLinuxRoot(h, fs->device), std::move(entries)};
    } else if (!found && LooksLikeWindowsRoot(h)) {
      found = FoundOs{OsFacts{.found = true, .root = fs->device, .type = "windows", .distro = "windows"}, {}};
    }
    RETURN_IF_ERROR(h.UmountAll());
  }
  return found;
}

}  // namespace

Result<Facts> CollectFacts(const InspectOptions& o) {
  Facts f;
  f.image = o.image;
  f.data_disks = o.data_disks;
  std::vector<Drive> drives;
  std::vector<PartitionTable> disks;
  auto add = [&](const std::string& path, FormatHint hint) -> Status {
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(path));
    ASSIGN_OR_RETURN(auto img, OpenImage(std::move(file), hint));
    ASSIGN_OR_RETURN(auto table, ReadPartitionTable(*img));
    drives.push_back({path, GuestfsFormat(img->kind()), true});
    disks.push_back(std::move(table));
    return {};
  };
  RETURN_IF_ERROR(add(o.image, o.format));
  for (const auto& d : o.data_disks) RETURN_IF_ERROR(add(d, FormatHint::kAuto));

  if (drives.size() > 26) return UsageError("at most 25 data disks can be attached");
  CollectBootPartitions(disks, f);

  ASSIGN_OR_RETURN(auto h, Handle::Launch(drives));
  if (auto vgs = h->Vgs(); vgs.ok()) f.volume_groups = *vgs;
  if (auto lvs = h->Lvs(); lvs.ok()) f.logical_volumes = *lvs;
  RETURN_IF_ERROR(CollectFilesystems(*h, disks, f));
  std::vector<std::string> images{o.image};
  images.insert(images.end(), o.data_disks.begin(), o.data_disks.end());
  ASSIGN_OR_RETURN(auto os, FindOs(*h, f, images));
  if (!os) return f;  // os.found stays false; the rules report it
  f.os = os->os;
  const std::string root = f.os.root;
  f.root_on_lvm = std::find(f.logical_volumes.begin(), f.logical_volumes.end(), root) != f.logical_volumes.end();
  if (f.root_on_lvm) RETURN_IF_ERROR(CollectRootPvs(*h, disks, root, f));

  // Mount the guest's filesystems read-only: the root, then what its fstab
  // mounts, shortest mount point first.
  RETURN_IF_ERROR(h->MountRo(root, "/"));
  auto mps = FstabMountpoints(os->fstab, f.filesystems);
  std::stable_sort(mps.begin(), mps.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.first.size(), a.first) < std::make_pair(b.first.size(), b.first);
  });
  for (const auto& [mp, dev] : mps) {
    if (mp == "/boot" && dev != root) {
      f.separate_boot = true;
      f.boot_device = dev;
      if (auto t = h->VfsType(dev); t.ok()) f.boot_fstype = *t;
    }
    // A filesystem that will not mount (e.g. on a disk not attached) is
    // simply not inspected; fstab-unresolved reports the entry.
    (void)h->MountRo(dev, mp);
  }
  // Errors about the guest's files name the image they came from.
  if (Status st = CollectFromMountedGuest(*h, f); !st.ok()) {
    return Error(st.error().kind(), o.image + ": " + st.error().message());
  }
  (void)h->UmountAll();
  return f;
}

}  // namespace vhdcrypt::guest
