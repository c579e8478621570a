// What `check` knows about a guest: plain data gathered by guestfs/inspect.cc
// in one appliance launch, judged by the pure rules in src/check/rules.cc.
// Kept free of libguestfs types so rules and their tests need no appliance.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vhdcrypt::guest {

// One line of /etc/fstab, every field kept verbatim.
struct FstabEntry {
  int line = 0;         // 1-based line number in /etc/fstab
  std::string spec;     // "UUID=...", "LABEL=...", "/dev/sdb1", "/dev/disk/by-uuid/..."
  std::string file;     // mount point
  std::string vfstype;  // "ext4", "xfs", "swap", ...
  std::string options;  // "defaults,nofail"
  int freq = 0;
  int passno = 0;
  std::string text;  // the whole line, for messages
};

// One line of /etc/crypttab.
struct CrypttabEntry {
  int line = 0;
  std::string name;
  std::string device;
  std::string keyfile;
  std::string options;
  std::string text;
};

// A filesystem (or swap, or LUKS container) the appliance found.
struct Filesystem {
  std::string device;     // appliance name: "/dev/sda2", "/dev/sdb1", "/dev/vg0/root"
  int disk = 0;           // 0: the OS image; 1..N: the --data disks in order
  int partition = 0;      // partition number on its disk, 0 if none (whole disk or LV)
  std::string type;       // vfs type from the appliance: "ext4", "xfs", "vfat", "swap", "crypto_LUKS", "unknown"
  std::string uuid;       // filesystem UUID ("" if none)
  std::string label;      // filesystem label ("" if none)
  std::string partuuid;   // GPT partition GUID, lowercase ("" if none)
  std::string partlabel;  // GPT partition name ("" if none)
  bool on_lvm = false;    // an LVM logical volume
  uint64_t size = 0;      // bytes
};

// Storage drivers of the machines an encrypted image boots on: Azure's
// Hyper-V disks (VMBus, storvsc) and NVMe, and KVM/qemu's virtio. The
// initramfs that unlocks the OS volume is made in vhdcrypt's appliance, whose
// disks are not the target's, so a guest that builds it for the hardware at
// hand (initramfs-tools MODULES=dep, dracut hostonly) gets these added.
inline constexpr const char* kBootStorageDrivers[] = {"hv_vmbus",   "hv_storvsc",  "nvme",  "virtio_pci",
                                                      "virtio_blk", "virtio_scsi", "sd_mod"};

// Whether a kernel provides a module, as a loadable module or built in.
struct ModuleState {
  bool loadable = false;  // listed in modules.dep
  bool builtin = false;   // listed in modules.builtin
  // A file modules.dep lists for the module (its own or a dependency's,
  // relative to /lib/modules/VERSION) that is not a non-empty regular file
  // in the guest: a stripped or damaged module tree. modprobe would fail.
  std::string missing_file;
  bool present() const { return builtin || (loadable && missing_file.empty()); }
};

struct Kernel {
  std::string version;           // "6.1.0-13-amd64" (the /lib/modules directory name)
  bool has_modules_dep = false;  // /lib/modules/VERSION/modules.dep exists
  // Keyed by canonical module name with '-' as '_': "vfat", "fat", "nls_cp437",
  // "nls_iso8859_1", "nls_utf8", "dm_crypt" and kBootStorageDrivers. Every
  // key is always present.
  std::map<std::string, ModuleState> modules;
};

// A modprobe.d line that stops a module from loading.
struct ModprobeRule {
  std::string file;  // "/etc/modprobe.d/blacklist-vfat.conf"
  int line = 0;
  std::string module;  // canonical name ('-' as '_')
  enum class Kind { kBlacklist, kInstallOverride } kind = Kind::kBlacklist;
  std::string text;
};

struct OsFacts {
  bool found = false;  // a root filesystem was found (guestfs/os_identity.h)
  std::string root;    // appliance device of the root filesystem
  std::string type;    // "linux", "windows", ...
  std::string distro;  // distro id, libguestfs' names: "ubuntu", "rhel", "centos", "debian", "oraclelinux", "mariner",
                       // "opensuse", "sles", ...
  std::string product_name;  // "Ubuntu 22.04.3 LTS"
  int major = 0;
  int minor = 0;
  std::string arch;  // "x86_64"
  // From /etc/os-release, for distros libguestfs does not know ("mariner").
  std::string os_release_id;          // ID=
  std::string os_release_version_id;  // VERSION_ID=
};

struct Facts {
  std::string image;                    // the OS image path as given
  std::vector<std::string> data_disks;  // --data paths, in order (disk 1..N)
  OsFacts os;
  std::vector<Filesystem> filesystems;

  bool fstab_present = false;
  std::vector<FstabEntry> fstab;
  bool crypttab_present = false;
  std::vector<CrypttabEntry> crypttab;

  std::vector<Kernel> kernels;
  std::vector<ModprobeRule> modprobe_rules;

  std::string initramfs_tool;                   // "initramfs-tools", "dracut" or "" (neither found)
  bool cryptsetup_installed = false;            // /sbin/cryptsetup or /usr/sbin/cryptsetup
  bool cryptsetup_initramfs_installed = false;  // initramfs-tools hook or dracut crypt module

  std::string selinux_mode;         // "enforcing", "permissive", "disabled", "" (no /etc/selinux/config)
  std::string selinux_type;         // SELINUXTYPE: "targeted", "default", ... ("" when not set)
  bool setfiles_installed = false;  // policycoreutils' setfiles, to restore labels

  bool root_on_lvm = false;
  std::vector<std::string> volume_groups;
  std::vector<std::string> logical_volumes;  // "/dev/vg0/root"
  // When / is an LV: the physical volumes of its volume group (type
  // "LVM2_member", uuid the PV UUID), what encrypting the OS volume encrypts.
  std::vector<Filesystem> root_pvs;

  // /boot: separate when /etc/fstab mounts a different filesystem there.
  bool separate_boot = false;
  std::string boot_device;  // appliance device when separate
  std::string boot_fstype;
  uint64_t boot_total_bytes = 0;
  uint64_t boot_free_bytes = 0;

  bool has_esp = false;        // a GPT EFI System partition or an MBR 0xEF partition
  bool has_bios_boot = false;  // a GPT BIOS boot partition

  std::optional<std::string> agent_version;    // Azure Linux agent (waagent), if installed
  std::vector<std::string> legacy_ade_traces;  // paths left by the old ADE extension

  uint64_t root_total_bytes = 0;
  uint64_t root_used_bytes = 0;
};

// The one physical volume of the root volume group when it is a partition of
// the OS disk (what vhdcrypt can encrypt as the OS volume); nullptr otherwise.
// The image a disk index names, for messages: the OS image, or the data disk.
inline std::string DiskName(const Facts& f, int disk) {
  if (disk == 0) return f.image.empty() ? "the OS image" : f.image;
  if (disk >= 1 && static_cast<size_t>(disk) <= f.data_disks.size()) return f.data_disks[disk - 1];
  return "data disk " + std::to_string(disk);
}

inline const Filesystem* SingleRootPv(const Facts& f) {
  if (f.root_pvs.size() != 1) return nullptr;
  const Filesystem& pv = f.root_pvs[0];
  return pv.disk == 0 && pv.partition > 0 ? &pv : nullptr;
}

}  // namespace vhdcrypt::guest
