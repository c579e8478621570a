// The fstab and volume rules. An fstab entry is resolved against the
// filesystems the appliance found (on the OS image and the --data disks) and
// then classified: a "data volume" is what ADE would encrypt as VolumeType
// Data, everything else belongs to the OS side.
#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "src/check/rules_internal.h"

namespace vhdcrypt::rules {
namespace {

using guest::DecodeFstab;
using guest::Facts;
using guest::Filesystem;
using guest::FstabEntry;
using guest::IsKernelDeviceName;
using Cursor = guest::SpecCursor;

Resolved Resolve(const std::string& spec, const Facts& facts) {
  return guest::ResolveFstabSpec(spec, facts.filesystems);
}

std::vector<std::string> SplitOptions(std::string_view options) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= options.size()) {
    size_t comma = options.find(',', start);
    if (comma == std::string_view::npos) comma = options.size();
    if (comma > start) out.emplace_back(options.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool HasOption(const FstabEntry& e, std::string_view name) {
  for (const auto& o : SplitOptions(e.options)) {
    if (o == name) return true;
  }
  return false;
}

// Not block filesystems: kernel pseudo filesystems, network shares, overlays,
// removable media. They have no volume to encrypt and no disk to resolve.
bool IsNonBlockType(const std::string& vfstype) {
  static const std::set<std::string> kTypes = {
      "proc",    "sysfs",   "tmpfs",      "devtmpfs", "devpts",  "ramfs",    "cgroup",    "cgroup2",     "securityfs",
      "debugfs", "tracefs", "hugetlbfs",  "mqueue",   "pstore",  "efivarfs", "configfs",  "binfmt_misc", "autofs",
      "fusectl", "bpf",     "rpc_pipefs", "nfsd",     "overlay", "aufs",     "9p",        "virtiofs",    "nfs",
      "nfs4",    "cifs",    "smb3",       "smbfs",    "ncpfs",   "afs",      "ceph",      "glusterfs",   "lustre",
      "davfs",   "sshfs",   "fuse",       "none",     "iso9660", "udf",      "selinuxfs", "usbfs"};
  return kTypes.count(vfstype) > 0 || StartsWith(vfstype, "fuse.");
}

// /dev/(sr[0-9]+|cdrom[0-9]*|dvd[0-9]*|fd[0-9]+|floppy)
bool IsRemovableSpec(std::string_view spec) {
  Cursor c(spec);
  if (!c.Take("/dev/")) return false;
  if (c.Take("sr") || c.Take("fd")) return !c.Digits().empty() && c.AtEnd();
  if (c.Take("cdrom") || c.Take("dvd")) return c.RestIsDigits();
  return c.Take("floppy") && c.AtEnd();
}

// cloud-init's mount of the Azure resource disk: the disk ADE warns about, not a data volume.
bool IsResourceDisk(const FstabEntry& e) { return StartsWith(e.spec, "/dev/disk/cloud/azure_resource"); }

// Mount points that hold the OS. A volume mounted elsewhere is taken for a
// data volume when it cannot be traced to a disk.
bool IsOsMount(const std::string& mount) {
  static const std::set<std::string> kOs = {"/",          "/boot",     "/boot/efi",      "/usr",       "/usr/local",
                                            "/var",       "/var/log",  "/var/log/audit", "/var/tmp",   "/var/cache",
                                            "/var/spool", "/var/mail", "/var/opt",       "/var/crash", "/home",
                                            "/opt",       "/tmp",      "/srv",           "/root"};
  return kOs.count(mount) > 0;
}

std::string NormalizeMount(const std::string& file) {
  std::string m = DecodeFstab(file);
  while (m.size() > 1 && m.back() == '/') m.pop_back();
  return m;
}

// What stays with the OS volume; every other mounted filesystem is a data
// volume, on the OS disk as on the data disks.
bool IsOsCoreMount(const std::string& mount) { return mount == "/" || mount == "/boot" || mount == "/boot/efi"; }

}  // namespace

std::vector<Entry> Classify(const Facts& facts, VolumeType volume_type) {
  std::vector<Entry> out;
  for (const auto& fe : facts.fstab) {
    Entry x;
    x.e = &fe;
    x.mount = NormalizeMount(fe.file);
    x.swap = fe.vfstype == "swap";
    // A path outside /dev is a file: a swap file, a loop-mounted image, a bind source.
    const bool file = StartsWith(fe.spec, "/") && !StartsWith(fe.spec, "/dev/");
    x.skip = fe.spec.empty() || IsNonBlockType(fe.vfstype) || HasOption(fe, "bind") || HasOption(fe, "rbind") ||
             IsRemovableSpec(fe.spec) || file || IsResourceDisk(fe);
    if (!x.skip) x.r = Resolve(fe.spec, facts);
    if (!x.skip && !x.swap) {
      // Logical volumes of the OS disk belong to the OS's volume group: they
      // move with the OS volume, not as data volumes.
      const Filesystem* fs = x.r.fs;
      x.data = x.r.how == Resolution::kResolved ? fs->disk >= 1 || (!fs->on_lvm && !IsOsCoreMount(x.mount))
                                                : !IsOsMount(x.mount);
    }
    x.checked = !x.skip && (x.data ? IncludesData(volume_type) : IncludesOs(volume_type));
    out.push_back(std::move(x));
  }
  return out;
}

namespace {

std::string Subject(const FstabEntry& e) { return "/etc/fstab:" + std::to_string(e.line); }

// The line as written, for messages: users find it with grep.
std::string Quoted(const FstabEntry& e) {
  if (!e.text.empty()) return "`" + e.text + "`";
  return "`" + e.spec + " " + e.file + " " + e.vfstype + " " + e.options + "`";
}

std::string WithNofail(const FstabEntry& e) {
  std::string options = e.options.empty() || e.options == "defaults" ? "defaults,nofail" : e.options + ",nofail";
  return e.spec + " " + e.file + " " + e.vfstype + " " + options + " " + std::to_string(e.freq) + " " +
         std::to_string(e.passno);
}

bool IsLuks(const std::string& type) { return EqualsNoCase(type, "crypto_LUKS"); }

void NonPersistentNames(const std::vector<Entry>& entries, Findings* out) {
  for (const auto& x : entries) {
    if (!x.checked || !IsKernelDeviceName(x.e->spec)) continue;
    std::string remedy;
    if (x.r.fs != nullptr && !x.r.fs->uuid.empty()) {
      remedy = "replace " + x.e->spec + " with UUID=" + x.r.fs->uuid + " on line " + std::to_string(x.e->line) +
               " of /etc/fstab";
    } else {
      remedy = "replace " + x.e->spec + " on line " + std::to_string(x.e->line) +
               " of /etc/fstab with UUID=<its UUID> (as printed by `blkid " + x.e->spec +
               "` in the guest) or a /dev/disk/by-uuid/ path";
    }
    out->Add("fstab-nonpersistent-name", Subject(*x.e),
             x.e->spec + " (mounted at " + x.mount +
                 ") is a kernel device name, which changes when Azure attaches disks in another order: " + Quoted(*x.e),
             remedy);
  }
}

// The data volumes' mount points as a tree of their '/'-separated parts, so
// that finding the volume a mount is nested in costs the length of its path,
// not the number of fstab lines (a guest's fstab may have 100,000).
class MountTree {
 public:
  // The first entry of a mount point is the one that counts.
  void Add(const Entry& x) {
    size_t node = 0;
    ForEachPart(x.mount, [&](std::string_view part, bool) { node = Child(node, part); });
    if (nodes_[node].entry == nullptr) nodes_[node].entry = &x;
  }
  // The deepest data volume whose mount point + "/" starts `mount` ("/" encloses nothing).
  const Entry* Parent(std::string_view mount) const {
    const Entry* parent = nullptr;
    size_t node = 0;
    bool gone = false;
    ForEachPart(mount, [&](std::string_view part, bool last) {
      if (gone || last) return;
      auto it = nodes_[node].children.find(part);
      if (it == nodes_[node].children.end()) {
        gone = true;
        return;
      }
      node = it->second;
      const Entry* e = nodes_[node].entry;
      if (e != nullptr && e->mount != "/") parent = e;
    });
    return parent;
  }

 private:
  struct Node {
    std::map<std::string_view, size_t, std::less<>> children;  // views into the entries' mount strings
    const Entry* entry = nullptr;
  };
  // Calls f(part, is_last) for each part between '/'s ("/a/b": "", "a", "b").
  template <typename F>
  static void ForEachPart(std::string_view s, F f) {
    size_t start = 0;
    for (;;) {
      const size_t slash = s.find('/', start);
      if (slash == std::string_view::npos) {
        f(s.substr(start), true);
        return;
      }
      f(s.substr(start, slash - start), false);
      start = slash + 1;
    }
  }
  size_t Child(size_t node, std::string_view part) {
    auto it = nodes_[node].children.find(part);
    if (it != nodes_[node].children.end()) return it->second;
    nodes_.emplace_back();
    nodes_[node].children.emplace(part, nodes_.size() - 1);
    return nodes_.size() - 1;
  }
  std::vector<Node> nodes_ = std::vector<Node>(1);
};

void DataVolumeRules(const Facts& facts, const std::vector<Entry>& entries, Findings* out) {
  std::vector<const Entry*> data;
  MountTree mounts;
  for (const auto& x : entries) {
    if (!x.checked || !x.data) continue;
    data.push_back(&x);
    mounts.Add(x);
  }
  for (const Entry* x : data) {
    const FstabEntry& e = *x->e;
    if (!HasOption(e, "nofail")) {
      out->Add(
          "fstab-missing-nofail", Subject(e),
          "data volume " + e.spec + " mounted at " + x->mount +
              " has no nofail option, so a missing or still-locked disk stops the boot: " + Quoted(e),
          "add nofail to the options on line " + std::to_string(e.line) + " of /etc/fstab: `" + WithNofail(e) + "`");
    }
    if (x->mount == "/mnt" || StartsWith(x->mount, "/mnt/")) {
      out->Add(
          "fstab-under-mnt", Subject(e),
          "data volume " + e.spec + " is mounted at " + x->mount +
              ", on the Azure resource disk's mount point /mnt, which the platform wipes and remounts: " + Quoted(e),
          "change the mount point on line " + std::to_string(e.line) +
              " of /etc/fstab to a directory outside /mnt (for example /datadrive) and move the directory there");
    }
    if (const Entry* parent = mounts.Parent(x->mount)) {
      std::string flat = x->mount;
      if (flat.size() > 1) std::replace(flat.begin() + 1, flat.end(), '/', '-');
      out->Add("fstab-nested-mount", Subject(e),
               "data volume " + e.spec + " mounted at " + x->mount + " is nested inside data volume " +
                   parent->e->spec + " mounted at " + parent->mount + " (" + Subject(*parent->e) +
                   "): the inner volume cannot be unlocked and mounted before the outer one: " + Quoted(e),
               "mount it at a directory outside " + parent->mount + " (for example " + flat + ") on line " +
                   std::to_string(e.line) + " of /etc/fstab");
    }
    // The filesystem vhdcrypt would encrypt: the resolved one, else what fstab says.
    std::string type = x->r.fs != nullptr ? x->r.fs->type : e.vfstype;
    if (!type.empty() && type != "auto" && !IsLuks(type) && !IsSupportedFsType(type)) {
      std::string where = x->r.fs != nullptr ? x->r.fs->device + " on " + DiskName(facts, x->r.fs->disk) : e.spec;
      out->Add("unsupported-filesystem", Subject(e),
               "data volume " + where + " mounted at " + x->mount + " is " + type +
                   "; vhdcrypt encrypts only ext2, ext3, ext4 and xfs: " + Quoted(e),
               "copy its data to a new ext4 or xfs filesystem and update line " + std::to_string(e.line) +
                   " of /etc/fstab, or remove the line so the volume stays unencrypted");
    }
  }
}

void Unresolved(const Facts& facts, const std::vector<Entry>& entries, Findings* out) {
  const std::string where = facts.data_disks.empty()
                                ? "the OS image (no --data disks given)"
                                : "the OS image or its " + std::to_string(facts.data_disks.size()) + " data disk" +
                                      (facts.data_disks.size() == 1 ? "" : "s");
  for (const auto& x : entries) {
    if (!x.checked || x.r.how != Resolution::kUnresolved) continue;
    const FstabEntry& e = *x.e;
    out->Add("fstab-unresolved", Subject(e),
             e.spec + " (mounted at " + x.mount + ") matches no filesystem on " + where + ": " + Quoted(e),
             "attach the disk that holds it with `--data DISK`; if that disk no longer exists, remove line " +
                 std::to_string(e.line) + " from /etc/fstab");
  }
}

void AlreadyEncrypted(const Facts& facts, const CheckOptions& options, Findings* out) {
  for (const auto& fs : facts.filesystems) {
    if (!IsLuks(fs.type)) continue;
    if (fs.disk >= 1 && !IncludesData(options.volume_type)) continue;
    out->Add("already-encrypted", fs.device,
             fs.device + " on " + DiskName(facts, fs.disk) + " is already a LUKS container",
             fs.disk == 0 ? "start from the unencrypted image: vhdcrypt encrypts plaintext volumes only"
                          : "attach the unencrypted copy of " + DiskName(facts, fs.disk) +
                                " with --data, or leave this disk out and encrypt the OS volume only");
  }
  for (const auto& c : facts.crypttab) {
    const std::string text = c.text.empty() ? c.name + " " + c.device : c.text;
    out->Add("already-encrypted", "/etc/crypttab:" + std::to_string(c.line),
             "/etc/crypttab already maps " + c.name + " from " + c.device + ": `" + text + "`",
             "start from an image that has not been encrypted; if the entry is stale, delete line " +
                 std::to_string(c.line) + " of /etc/crypttab");
  }
}

void RootFilesystem(const Facts& facts, const CheckOptions& options, Findings* out) {
  if (!IncludesOs(options.volume_type) || facts.os.root.empty()) return;
  for (const auto& fs : facts.filesystems) {
    if (fs.device != facts.os.root) continue;
    if (IsLuks(fs.type) || IsSupportedFsType(fs.type)) return;
    out->Add("unsupported-filesystem", fs.device,
             "root filesystem " + fs.device + " is " + (fs.type.empty() ? std::string("of unknown type") : fs.type) +
                 "; vhdcrypt encrypts only ext2, ext3, ext4 and xfs",
             "rebuild the image with an ext4 or xfs root filesystem, or encrypt data volumes only "
             "(--volume-type data)");
    return;
  }
}

}  // namespace

void CheckFstabAndVolumes(const Facts& facts, const CheckOptions& options, Findings* out) {
  const std::vector<Entry> entries = Classify(facts, options.volume_type);
  NonPersistentNames(entries, out);
  DataVolumeRules(facts, entries, out);
  Unresolved(facts, entries, out);
  AlreadyEncrypted(facts, options, out);
  RootFilesystem(facts, options, out);
}

bool IsSupportedFsType(std::string_view type) {
  return type == "ext2" || type == "ext3" || type == "ext4" || type == "xfs";
}

}  // namespace vhdcrypt::rules
