#include "src/cmd_encrypt.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

#include "formats/copy.h"
#include "formats/gpt.h"
#include "formats/guid.h"
#include "formats/mbr.h"
#include "formats/output_file.h"
#include "formats/partition_table.h"
#include "formats/writer.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/check_report.h"
#include "src/check_rules_internal.h"
#include "src/cmd_verify.h"
#include "src/digest.h"
#include "src/engine.h"
#include "src/exit_codes.h"
#include "src/fs_probe.h"
#include "src/guest_config.h"
#include "src/kek.h"
#include "src/key_volume.h"
#include "src/layout.h"
#include "src/manifest.h"
#include "src/report.h"
#include "src/secret.h"
#include "src/volumes.h"

namespace vhdcrypt {
namespace {

// Makes the calling thread `by` steps nicer than it is (at most 19). Best
// effort: a refusal only costs speed.
void LowerThreadPriority(int by) {
  const id_t tid = static_cast<id_t>(gettid());
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, tid);
  if (now == -1 && errno != 0) return;
  setpriority(PRIO_PROCESS, tid, std::min(now + by, 19));
}

// LUKS2's default header (two 16 KiB metadata copies and the keyslots area)
// with libcryptsetup's default 1 MiB alignment: the data segment starts 16 MiB
// into the partition, as after a plain `cryptsetup luksFormat`.
constexpr uint64_t kHeaderBytes = 16 * 1024 * 1024;

struct Disk {
  std::string input;
  std::unique_ptr<Image> image;
  PartitionTable table;
  std::array<uint8_t, kSectorSize> sector0{};
  std::vector<size_t> volumes;  // indices into the volume list
  DiskLayout layout;
  ContainerKind out_kind = ContainerKind::kRaw;
  std::string out_name;
  std::unique_ptr<OutputFile> out;
  // The OS volume is encrypted in place after the guest edits, which needs
  // virtual offsets that are file offsets: a dynamic VHD output is then
  // written as a raw work file first (never committed) and converted at the
  // end. Otherwise work_kind is out_kind and there is no work file.
  ContainerKind work_kind = ContainerKind::kRaw;
  std::unique_ptr<OutputFile> work;
  std::unique_ptr<ImageWriter> writer;  // a LockedWriter over target()

  OutputFile& target() const { return work ? *work : *out; }
};

struct Volume {
  DataVolumeChoice choice;
  ManifestVolume m;
  bool os = false;  // the OS volume: header detached, encrypted in place after the guest edits
  std::string partuuid;  // the OS volume's PARTUUID as blkid and udev spell it
  bool lvm_pv = false;   // the OS volume is the PV under /: fstab keeps naming the LV
};

// blkid's PARTUUID: the GPT partition GUID in lowercase, or for MBR the disk
// signature and the partition number ("deb12001-02").
Result<std::string> PartUuid(const std::string& disk, const PartitionTable& table, const Partition& p) {
  std::string id;
  if (table.kind == TableKind::kGpt) {
    id = p.uuid;
  } else if (table.kind == TableKind::kMbr && table.disk_id.size() == 10 && table.disk_id != "0x00000000") {
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "-%02x", p.number);
    id = table.disk_id.substr(2) + suffix;
  }
  if (id.empty()) {
    return InvalidInput(disk + ": partition " + std::to_string(p.number) +
                        " has no PARTUUID to find it by at boot (an MBR disk whose disk signature is 0?)");
  }
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::tolower(c); });
  return id;
}

// disk.vhd -> disk.vhd / disk.raw; the container decides the extension.
std::string OutputName(const std::string& input, ContainerKind kind) {
  std::string stem = BaseName(input);
  const auto dot = stem.rfind('.');
  if (dot != std::string::npos && dot > 0) stem.resize(dot);
  return stem + (kind == ContainerKind::kRaw ? ".raw" : ".vhd");
}

// --data-only: the filesystems of each disk from its partition table and
// superblocks, named as the appliance would name them.
Result<guest::Facts> ProbeDataDisks(const std::vector<std::string>& inputs, FormatHint first_format) {
  guest::Facts facts;
  facts.image = inputs[0];
  facts.data_disks.assign(inputs.begin() + 1, inputs.end());
  for (size_t d = 0; d < inputs.size(); ++d) {
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(inputs[d]));
    ASSIGN_OR_RETURN(auto image, OpenImage(std::move(file), d == 0 ? first_format : FormatHint::kAuto));
    ASSIGN_OR_RETURN(PartitionTable table, ReadPartitionTable(*image));
    std::vector<Partition> parts = table.partitions;
    if (table.kind == TableKind::kNone) parts.push_back({0, 0, image->virtual_size()});
    for (const Partition& p : parts) {
      if (p.type == kGptTypeEfiSystem || p.type == kGptTypeBiosBoot || p.type == "0xef" || p.bootable) {
        return UsageError(inputs[d] + ": partition " + std::to_string(p.number) +
                          " is a boot partition, so this looks like an OS disk; --data-only would encrypt its "
                          "root filesystem. Leave out --data-only to inspect it");
      }
      if (table.kind == TableKind::kMbr && IsExtendedType(MbrTypeFromText(p.type).value_or(0))) {
        continue;
      }
      ASSIGN_OR_RETURN(FsProbe probe, ProbeFilesystem(*image, p.start, p.size));
      guest::Filesystem fs;
      fs.device = guest::ApplianceDevice(d, p.number);
      fs.disk = static_cast<int>(d);
      fs.partition = static_cast<int>(p.number);
      fs.type = probe.type.empty() ? "unknown" : probe.type;
      fs.uuid = probe.uuid;
      fs.size = p.size;
      facts.filesystems.push_back(std::move(fs));
    }
  }
  return facts;
}

// The OS volume: the partition holding /, with its LUKS header detached on
// the plaintext /boot (ADE's layout; when / holds /boot, PlanDisks adds a new
// /boot partition). What is not supported yet is refused here, before
// anything is written.
Result<Volume> SelectOsVolume(const EncryptCommandOptions& o, const guest::Facts& facts) {
  const std::string& image = o.image;
  auto fs = std::find_if(facts.filesystems.begin(), facts.filesystems.end(),
                         [&](const guest::Filesystem& f) { return f.device == facts.os.root; });
  auto root_line = std::find_if(facts.fstab.begin(), facts.fstab.end(),
                                [](const guest::FstabEntry& e) { return e.file == "/"; });
  if (fs == facts.filesystems.end() || root_line == facts.fstab.end()) {
    return InvalidInput(image + ": cannot find the root filesystem " + facts.os.root + " and its /etc/fstab line");
  }
  const guest::Filesystem* volume = &*fs;
  if (fs->on_lvm || facts.root_on_lvm) {
    // / on an LV: its volume group's one PV is the OS volume.
    volume = guest::SingleRootPv(facts);
    if (volume == nullptr) {
      return UsageError(image + ": / is on LVM (" + fs->device + ") in a volume group of " +
                        std::to_string(facts.root_pvs.size()) +
                        " physical volume(s); vhdcrypt encrypts a root volume group only when it is one partition "
                        "of the OS disk");
    }
  } else if (fs->disk != 0 || fs->partition == 0) {
    return InvalidInput(image + ": / (" + fs->device + ") is not a partition of the OS disk");
  }
  if (facts.initramfs_tool != "initramfs-tools" && facts.initramfs_tool != "dracut") {
    return UsageError(image + ": the guest builds its initramfs with " +
                      (facts.initramfs_tool.empty() ? std::string("an unknown tool") : facts.initramfs_tool) +
                      "; vhdcrypt can make initramfs-tools and dracut guests unlock the OS volume at boot");
  }
  Volume v;
  v.os = true;
  v.lvm_pv = volume != &*fs;
  v.choice.fs = volume;
  v.choice.fstab = &*root_line;
  v.choice.mountpoint = "/";
  return v;
}

Status CheckOutputDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return UsageError(dir + ": output directory does not exist");
  if (!S_ISDIR(st.st_mode)) return UsageError(dir + ": is not a directory");
  return {};
}

// Opens each disk again through formats/ (CollectFacts validated them) and
// lays it out around its volumes.
// new_boot_bytes: when not 0, the OS disk gets a new partition of that size
// for /boot.
Status PlanDisks(const EncryptCommandOptions& o, std::vector<Volume>& volumes, std::vector<Disk>& disks,
                 uint64_t new_boot_bytes) {
  std::vector<std::string> inputs = {o.image};
  inputs.insert(inputs.end(), o.data_disks.begin(), o.data_disks.end());
  std::set<std::string> names;
  for (size_t d = 0; d < inputs.size(); ++d) {
    Disk disk;
    disk.input = inputs[d];
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(disk.input));
    ASSIGN_OR_RETURN(disk.image, OpenImage(std::move(file), d == 0 ? o.format : FormatHint::kAuto));
    ASSIGN_OR_RETURN(disk.table, ReadPartitionTable(*disk.image));
    RETURN_IF_ERROR(disk.image->ReadAt(0, disk.sector0));
    disk.out_kind = o.has_to ? o.to : disk.image->kind();
    disk.work_kind = disk.out_kind;
    disk.out_name = OutputName(disk.input, disk.out_kind);
    if (!names.insert(disk.out_name).second) {
      return UsageError(disk.input + ": its output name " + disk.out_name +
                        " is already taken by another input; rename one of them");
    }
    disks.push_back(std::move(disk));
  }
  for (size_t i = 0; i < volumes.size(); ++i) {
    Volume& v = volumes[i];
    const guest::Filesystem& fs = *v.choice.fs;
    Disk& disk = disks.at(fs.disk);
    uint64_t offset = 0, size = disk.image->virtual_size();
    if (fs.partition != 0) {
      auto it = std::find_if(disk.table.partitions.begin(), disk.table.partitions.end(),
                             [&](const Partition& p) { return p.number == static_cast<uint32_t>(fs.partition); });
      if (it == disk.table.partitions.end()) {
        return InvalidInput(disk.input + ": the appliance saw " + fs.device + " but the partition table has no partition " +
                            std::to_string(fs.partition));
      }
      offset = it->start;
      size = it->size;
      if (v.os) {
        ASSIGN_OR_RETURN(v.partuuid, PartUuid(disk.input, disk.table, *it));
        if (disk.out_kind == ContainerKind::kVhdDynamic) disk.work_kind = ContainerKind::kRaw;
      }
    } else if (disk.table.kind != TableKind::kNone) {
      return InvalidInput(disk.input + ": " + fs.device + " is not a partition of its partitioned disk");
    }
    ASSIGN_OR_RETURN(FsProbe probe, ProbeFilesystem(*disk.image, offset, size));
    uint32_t sector = o.sector_size != 0 ? o.sector_size : ChooseSectorSize(probe, size);
    if (size % sector != 0) {
      return InvalidInput(disk.input + ": " + fs.device + " is " + std::to_string(size) +
                          " bytes, not a whole number of " + std::to_string(sector) + "-byte sectors");
    }
    v.m.disk = fs.disk;
    v.m.partition = static_cast<uint32_t>(fs.partition);
    v.m.device = fs.device;
    v.m.mountpoint = v.choice.mountpoint;
    v.m.filesystem = fs.type;
    v.m.filesystem_uuid = fs.uuid;
    v.m.sector_size = sector;
    v.m.pbkdf = PbkdfName(o.luks.pbkdf);
    v.m.source_offset = offset;
    v.m.size = size;
    disk.volumes.push_back(i);
  }
  for (size_t d = 0; d < disks.size(); ++d) {
    Disk& disk = disks[d];
    std::vector<VolumeRequest> requests;
    for (size_t i : disk.volumes) {
      requests.push_back({volumes[i].m.partition, volumes[i].os ? 0 : kHeaderBytes});
    }
    NewPartition boot;
    if (d == 0 && new_boot_bytes != 0) {
      boot = {new_boot_bytes, kGptTypeLinuxFilesystem, RandomGuid().ToString(), "boot", 0x83};
    }
    ASSIGN_OR_RETURN(disk.layout, PlanDiskLayout(disk.input, disk.table, disk.sector0, disk.image->virtual_size(),
                                                 requests, disk.out_kind, boot));
    for (size_t k = 0; k < disk.volumes.size(); ++k) {
      ManifestVolume& m = volumes[disk.volumes[k]].m;
      m.header_offset = disk.layout.volumes[k].header_offset;
      m.data_offset = disk.layout.volumes[k].data_offset;
    }
  }
  return {};
}

// A version 4 UUID in the lowercase form LUKS headers and blkid use.
std::string RandomLuksUuid() {
  std::string text = RandomGuid().ToString();
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

Result<SecretBytes> VolumeKey() {
  for (;;) {
    ASSIGN_OR_RETURN(SecretBytes key, RandomSecret(kLuksKeyBytes));
    // XTS refuses equal halves; with 256 random bits each this never repeats,
    // but the check costs nothing.
    if (CRYPTO_memcmp(key.data(), key.data() + kLuksKeyBytes / 2, kLuksKeyBytes / 2) != 0) return key;
  }
}

// The engine (on the main thread) and the header task write to the same
// outputs; writers are not thread-safe, so every write takes one lock.
class LockedWriter : public ImageWriter {
 public:
  LockedWriter(std::unique_ptr<ImageWriter> inner, std::mutex& mu) : inner_(std::move(inner)), mu_(mu) {}
  uint64_t virtual_size() const override { return inner_->virtual_size(); }
  Status Write(uint64_t offset, std::span<const uint8_t> data) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_->Write(offset, data);
  }
  Status Finish() override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_->Finish();
  }

 private:
  std::unique_ptr<ImageWriter> inner_;
  std::mutex& mu_;
};

// A job's (bytes done, job total) callback that adds what is new to the
// run's progress.
std::function<void(uint64_t, uint64_t)> Advancer(Progress& progress) {
  return [&progress, last = uint64_t{0}](uint64_t done, uint64_t) mutable {
    progress.Advance(done - last);
    last = done;
  };
}

// Copies and encrypts the disk's segments; the LUKS headers and the
// partition table are written separately.
Status WriteDiskData(const EncryptCommandOptions& o, Disk& disk, std::vector<Volume>& volumes,
                     const std::vector<SecretBytes>& keys, Progress& progress) {
  for (const Segment& s : disk.layout.segments) {
    // Copied as it is: what is not a volume, and the OS volume, which stays
    // plaintext until the guest edits are done (EncryptInPlace follows).
    const Volume* v = s.volume < 0 ? nullptr : &volumes[disk.volumes[s.volume]];
    if (v == nullptr || v->os) {
      progress.Phase("copy", v == nullptr ? disk.input : v->m.device + " (/)");
      ASSIGN_OR_RETURN(auto stats, CopyRange(*disk.image, s.source_offset, s.length, *disk.writer, s.out_offset,
                                             Advancer(progress)));
      (void)stats;
      continue;
    }
    const size_t index = disk.volumes[s.volume];
    progress.Phase("encrypt", v->m.device + (v->m.mountpoint.empty() ? "" : " (" + v->m.mountpoint + ")"));
    VolumeJob job;
    job.source = disk.image.get();
    job.source_offset = s.source_offset;
    job.length = s.length;
    job.out = disk.writer.get();
    job.out_offset = s.out_offset;
    job.key = keys[index].span();
    job.sector_size = v->m.sector_size;
    RETURN_IF_ERROR(RunVolumeJob(job, EngineOptions{o.threads}, Advancer(progress)));
  }
  return {};
}

// The key slots: one PBKDF benchmark for the run, then a header per volume
// with the calibrated costs, each written in place as soon as it is made.
// Runs beside the bulk encryption, which does not need the headers: the
// engine works from the volume keys.
// The OS volume's header is detached: it is returned in *os_header, for the
// guest edits to put in /boot.
Status WriteHeaders(const EncryptCommandOptions& o, std::vector<Disk>& disks, const std::vector<Volume>& volumes,
                    const std::vector<SecretBytes>& keys, const SecretBytes& passphrase,
                    const std::atomic<bool>& stop, std::vector<uint8_t>* os_header) {
  ASSIGN_OR_RETURN(LuksOptions luks, CalibrateLuksOptions(o.luks));
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (stop) return IoError("LUKS header creation cancelled");
    const ManifestVolume& m = volumes[i].m;
    LuksOptions lo = luks;
    lo.sector_size = m.sector_size;
    lo.uuid = m.luks_uuid;
    lo.detached = volumes[i].os;
    ASSIGN_OR_RETURN(LuksHeader header, FormatLuksHeader(passphrase, keys[i], lo));
    if (volumes[i].os) {
      if (header.data_offset != 0 || header.uuid != m.luks_uuid) {
        return IoError("libcryptsetup made the detached header of " + m.device + " with its data segment at " +
                       std::to_string(header.data_offset) + " bytes and UUID " + header.uuid);
      }
      *os_header = std::move(header.bytes);
      continue;
    }
    if (header.data_offset != kHeaderBytes || header.uuid != m.luks_uuid) {
      return IoError("libcryptsetup made the header of " + m.device + " with its data segment at " +
                     std::to_string(header.data_offset) + " bytes and UUID " + header.uuid + "; expected " +
                     std::to_string(kHeaderBytes) + " and " + m.luks_uuid);
    }
    RETURN_IF_ERROR(disks[m.disk].writer->Write(m.header_offset, header.bytes));
    spdlog::debug("{}: LUKS2 header {} written", m.device, m.luks_uuid);
  }
  return {};
}

// What the guest edits need besides the volumes.
struct GuestEdit {
  const std::vector<uint8_t>* os_header = nullptr;  // the OS volume's detached header, if encrypted
  OutputFile* key_volume = nullptr;                 // DIR/bek.vhd to fill, unless --no-key-volume
  const SecretBytes* passphrase = nullptr;
  std::string new_boot_device;  // an empty partition that becomes /boot (/ holds /boot now)
};

// In the guest's chroot: fails with the command's own output.
Status RunInGuest(guest::Handle& g, const std::vector<std::string>& argv) {
  spdlog::info("guest: running {}", argv[0] == "sh" ? argv.back() : argv[0]);
  auto out = g.Command(argv);
  if (!out.ok()) return Error(ErrorKind::kGuest, argv[0] + " in the guest failed: " + out.error().message());
  spdlog::debug("guest: {}: {}", argv[0], *out);
  return {};
}

// Unlocking at boot with initramfs-tools: the detached header on /boot, the
// keyscript and hook, the modules; then the guest's own update-initramfs
// rebuilds the initramfs of every kernel.
Status ConfigureInitramfsTools(guest::Handle& g) {
  RETURN_IF_ERROR(g.Mkdir("/usr/lib/vhdcrypt"));
  RETURN_IF_ERROR(g.Write(kKeyscriptPath, KeyscriptText()));
  RETURN_IF_ERROR(g.Chmod(0755, kKeyscriptPath));
  RETURN_IF_ERROR(g.Mkdir("/etc/initramfs-tools/hooks"));
  RETURN_IF_ERROR(g.Write(kInitramfsHookPath, InitramfsHookText()));
  RETURN_IF_ERROR(g.Chmod(0755, kInitramfsHookPath));
  ASSIGN_OR_RETURN(auto modules, g.ReadLinesIfExists(kInitramfsModulesPath));
  RETURN_IF_ERROR(g.Write(kInitramfsModulesPath, InitramfsModulesText(modules)));
  return RunInGuest(g, {"update-initramfs", "-u", "-k", "all"});
}

// With dracut: a configuration file puts crypttab, the header and the
// modules into the initramfs; then the guest's dracut remakes the initramfs
// of every installed kernel.
Status ConfigureDracut(guest::Handle& g, const guest::Facts& facts) {
  std::vector<std::string> drivers;
  for (const char* m : guest::kBootStorageDrivers) {
    const auto has = [&](const guest::Kernel& k) {
      auto it = k.modules.find(m);
      return it != k.modules.end() && it->second.present();
    };
    const bool everywhere = !facts.kernels.empty() && std::all_of(facts.kernels.begin(), facts.kernels.end(), has);
    if (everywhere) drivers.push_back(m);
  }
  RETURN_IF_ERROR(g.Mkdir("/etc/dracut.conf.d"));
  RETURN_IF_ERROR(g.Write(kDracutConfPath, DracutConfText(facts.root_on_lvm, drivers)));
  return RunInGuest(g, {"dracut", "--force", "--regenerate-all"});
}

// The detached header goes to /boot (mode 0600), then the guest's initramfs
// tool learns to unlock the OS volume. (root=UUID= on the kernel command line
// needs no change: it names the filesystem, which appears once the initramfs
// has opened osencrypt; UpdateKernelCmdline handles the options that do.)
Status ConfigureOsUnlock(guest::Handle& g, const guest::Facts& facts, const std::vector<uint8_t>& header) {
  RETURN_IF_ERROR(g.Mkdir("/boot/luks"));
  RETURN_IF_ERROR(g.WriteBytes(kOsHeaderPath, header));
  RETURN_IF_ERROR(g.Chmod(0600, kOsHeaderPath));
  if (facts.initramfs_tool == "dracut") return ConfigureDracut(g, facts);
  return ConfigureInitramfsTools(g);
}

// An SELinux guest (enforcing or permissive) gets the labels of what
// vhdcrypt wrote restored by its own setfiles and policy, in its chroot; /boot
// is relabelled whole (header, initramfs images, and everything when it
// moved). setfiles stays on the filesystem of each path it is given (not into
// a vfat ESP below /boot). Without
// setfiles or the policy's file contexts the guest is told to relabel itself
// at its next boot (/.autorelabel), which takes one more reboot.
Status RestoreSelinuxLabels(guest::Handle& g, const guest::Facts& facts) {
  std::string mode = facts.selinux_mode;
  std::transform(mode.begin(), mode.end(), mode.begin(), [](unsigned char c) { return std::tolower(c); });
  if (mode != "enforcing" && mode != "permissive") return {};
  const std::string contexts =
      "/etc/selinux/" + (facts.selinux_type.empty() ? std::string("targeted") : facts.selinux_type) +
      "/contexts/files/file_contexts";
  ASSIGN_OR_RETURN(bool have_contexts, g.Exists(contexts));
  if (!facts.setfiles_installed || !have_contexts) {
    spdlog::warn("SELinux is {} but {}; the guest will relabel every file at its next boot (/.autorelabel)", mode,
                 facts.setfiles_installed ? contexts + " is missing" : "setfiles is not installed");
    return g.Write("/.autorelabel", "");
  }
  std::vector<std::string> argv = {"setfiles", "-F", contexts};
  for (const char* path : {"/etc/fstab", "/etc/crypttab", "/etc/initramfs-tools", "/etc/dracut.conf.d",
                           "/usr/lib/vhdcrypt", "/boot"}) {
    ASSIGN_OR_RETURN(bool exists, g.Exists(path));
    if (exists) argv.push_back(path);
  }
  spdlog::info("SELinux is {}: restoring the labels of the edited files with the guest's setfiles", mode);
  return RunInGuest(g, argv);
}

// The ESP's appliance device when fstab mounts one at /boot/efi, else "".
std::string EspDevice(const guest::Facts& facts) {
  for (const auto& x : rules::Classify(facts, VolumeType::kOs)) {
    if (x.mount == "/boot/efi" && x.r.fs != nullptr) return x.r.fs->device;
  }
  return "";
}

// / holds /boot: the empty partition `dev` gets an ext4 filesystem, /boot's
// contents move into it (owners, modes, links kept; /boot itself stays as the
// mount point, empty) and it is mounted at /boot. Returns its UUID for fstab.
// The ESP is not mounted yet, so /boot/efi moves as an empty mount point.
Result<std::string> MoveBootOut(guest::Handle& g, const std::string& dev) {
  spdlog::info("guest: moving /boot out of / into {}", dev);
  RETURN_IF_ERROR(g.Mkfs("ext4", dev, "boot"));
  ASSIGN_OR_RETURN(auto ids, g.Blkid(dev));
  const std::string uuid = ids["UUID"];
  if (uuid.empty()) return Error(ErrorKind::kGuest, "the new /boot filesystem on " + dev + " has no UUID");
  const std::string staging = "/.vhdcrypt-boot";
  RETURN_IF_ERROR(g.Mkdir(staging));
  RETURN_IF_ERROR(g.Mount(dev, staging));
  RETURN_IF_ERROR(g.CopyTree("/boot/.", staging));
  ASSIGN_OR_RETURN(auto entries, g.Ls("/boot"));
  for (const std::string& e : entries) RETURN_IF_ERROR(g.RemoveTree("/boot/" + e));
  RETURN_IF_ERROR(g.Umount(staging));
  RETURN_IF_ERROR(g.Rmdir(staging));
  RETURN_IF_ERROR(g.Mount(dev, "/boot"));
  return uuid;
}

// grub.cfg made again by the guest's own update-grub (Debian, Ubuntu) or
// grub2-mkconfig (RHEL and its kin), so it carries the kernel command line of
// /etc/default/grub and the initramfs images as they are now.
// A guest booted by something else (no GRUB tools) keeps its configuration,
// with a warning: vhdcrypt does not know how to rebuild it.
Status RebuildGrubConfig(guest::Handle& g) {
  ASSIGN_OR_RETURN(std::string tool,
                   g.Command({"sh", "-c", "command -v update-grub || command -v grub2-mkconfig || true"}));
  if (tool.find("update-grub") != std::string::npos) return RunInGuest(g, {"update-grub"});
  if (tool.find("grub2-mkconfig") != std::string::npos) {
    return RunInGuest(g, {"grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"});
  }
  spdlog::warn("the guest has neither update-grub nor grub2-mkconfig: its boot loader configuration was not "
               "rebuilt; make sure it passes the kernel command line in /etc/default/grub");
  return {};
}

// The kernel command line in /etc/default/grub and /etc/default/grub.d/*.cfg,
// edited for the encrypted OS volume (EditKernelCmdline says how); the
// rebuilt grub.cfg then carries it.
Status UpdateKernelCmdline(guest::Handle& g, const CmdlineEdit& edit) {
  std::vector<std::string> files = {"/etc/default/grub"};
  ASSIGN_OR_RETURN(bool dropins, g.IsDir("/etc/default/grub.d"));
  if (dropins) {
    ASSIGN_OR_RETURN(auto cfgs, g.Glob("/etc/default/grub.d/*.cfg"));
    files.insert(files.end(), cfgs.begin(), cfgs.end());
  }
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(auto lines, g.ReadLinesIfExists(file));
    std::vector<std::string> changes;
    auto edited = EditGrubDefaults(lines, edit, &changes);
    if (changes.empty()) continue;
    for (const auto& c : changes) spdlog::info("guest: kernel command line in {}: {}", file, c);
    RETURN_IF_ERROR(g.Write(file, JoinLines(edited)));
  }
  return {};
}

// After the /boot move GRUB must find its files on the new filesystem: its
// core image (BIOS: in the BIOS boot partition or after the MBR; UEFI: on the
// ESP, with the removable path too when the image boots from it) is made
// again by the guest's grub-install, and grub.cfg by update-grub (or
// grub2-mkconfig). The disk is
// the one holding /boot, as the appliance's kernel names it.
Status ReinstallBootloader(guest::Handle& g, const guest::Facts& facts, TableKind table, bool esp_mounted) {
  ASSIGN_OR_RETURN(bool pc, g.IsDir("/usr/lib/grub/i386-pc"));
  ASSIGN_OR_RETURN(bool efi, g.IsDir("/usr/lib/grub/x86_64-efi"));
  const bool bios = pc && (facts.has_bios_boot || table == TableKind::kMbr);
  const bool uefi = efi && esp_mounted;
  if (!bios && !uefi) {
    return Error(ErrorKind::kGuest, "/boot moved to a new partition, but the guest has no GRUB for BIOS "
                                    "(/usr/lib/grub/i386-pc with a BIOS boot partition or MBR) or for UEFI "
                                    "(/usr/lib/grub/x86_64-efi with an ESP at /boot/efi) to reinstall");
  }
  if (bios) {
    RETURN_IF_ERROR(RunInGuest(g, {"sh", "-c", "grub-install --target=i386-pc \"$(grub-probe --target=disk /boot)\""}));
  }
  if (uefi) {
    RETURN_IF_ERROR(RunInGuest(g, {"grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi", "--no-nvram"}));
    ASSIGN_OR_RETURN(bool removable, g.Exists("/boot/efi/EFI/BOOT/BOOTX64.EFI"));
    if (removable) {
      RETURN_IF_ERROR(RunInGuest(g, {"grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi",
                                     "--no-nvram", "--removable"}));
    }
  }
  return RebuildGrubConfig(g);
}

// fstab lines of the encrypted volumes now name their /dev/mapper devices;
// crypttab opens them at boot, the data volumes with the passphrase from the
// key volume. With the OS volume encrypted, the guest also learns to unlock
// it in its initramfs. The key volume is made in the same appliance.
Status EditGuest(const guest::Facts& facts, const Disk& os_disk, const std::vector<Volume>& volumes,
                 const GuestEdit& edit) {
  std::map<int, std::string> specs;
  std::vector<CrypttabVolume> crypt;
  std::string os_partuuid;
  bool os_lvm = false;
  for (const Volume& v : volumes) {
    if (v.choice.fstab == nullptr) continue;
    if (v.os) {
      if (!v.lvm_pv) specs[v.choice.fstab->line] = std::string("/dev/mapper/") + kOsMapperName;
      os_partuuid = v.partuuid;
      os_lvm = v.lvm_pv;
      continue;
    }
    specs[v.choice.fstab->line] = "/dev/mapper/" + v.m.mapper_name;
    crypt.push_back({v.m.mapper_name, v.m.luks_uuid, DataVolumeKeyField(), "luks,nofail"});
  }
  if (!os_partuuid.empty()) {
    crypt.insert(crypt.begin(), facts.initramfs_tool == "dracut" ? OsCrypttabVolumeDracut(os_partuuid)
                                                                  : OsCrypttabVolume(os_partuuid));
  }
  if (crypt.empty()) return {};
  std::vector<guest::Drive> drives = {{os_disk.target().temp_path(), guest::GuestfsFormat(os_disk.work_kind), false}};
  if (edit.key_volume != nullptr) drives.push_back({edit.key_volume->temp_path(), "vpc", false});
  ASSIGN_OR_RETURN(auto g, guest::Handle::Launch(drives, /*sensitive=*/true));
  if (edit.key_volume != nullptr) {
    RETURN_IF_ERROR(FillKeyVolume(*g, guest::ApplianceDevice(1), *edit.passphrase));
  }
  RETURN_IF_ERROR(g->Mount(facts.os.root, "/"));
  if (facts.separate_boot) RETURN_IF_ERROR(g->Mount(facts.boot_device, "/boot"));
  const bool split = !edit.new_boot_device.empty();
  std::string new_boot_uuid;
  if (split) {
    ASSIGN_OR_RETURN(new_boot_uuid, MoveBootOut(*g, edit.new_boot_device));
  }
  const std::string esp = EspDevice(facts);
  if (split && !esp.empty()) RETURN_IF_ERROR(g->Mount(esp, "/boot/efi"));
  ASSIGN_OR_RETURN(auto fstab, g->ReadLines("/etc/fstab"));
  fstab = RewriteFstab(fstab, specs);
  if (split) {
    auto root = std::find_if(facts.fstab.begin(), facts.fstab.end(), [](const auto& e) { return e.file == "/"; });
    fstab = AddBootToFstab(fstab, root == facts.fstab.end() ? 0 : root->line, new_boot_uuid);
  }
  RETURN_IF_ERROR(g->Write("/etc/fstab", JoinLines(fstab)));
  ASSIGN_OR_RETURN(auto crypttab, g->ReadLinesIfExists("/etc/crypttab"));
  RETURN_IF_ERROR(g->Write("/etc/crypttab", ComposeCrypttab(crypttab, crypt)));
  if (edit.os_header != nullptr) {
    RETURN_IF_ERROR(ConfigureOsUnlock(*g, facts, *edit.os_header));
  }
  if (edit.os_header != nullptr) {
    RETURN_IF_ERROR(UpdateKernelCmdline(*g, {os_partuuid, os_lvm ? "" : std::string("/dev/mapper/") + kOsMapperName}));
  }
  if (split) {
    RETURN_IF_ERROR(ReinstallBootloader(*g, facts, os_disk.table.kind, !esp.empty()));
  } else if (edit.os_header != nullptr) {
    RETURN_IF_ERROR(RebuildGrubConfig(*g));
  }
  RETURN_IF_ERROR(RestoreSelinuxLabels(*g, facts));
  RETURN_IF_ERROR(g->UmountAll());
  return g->Shutdown();
}

// Positional writes into a raw or fixed VHD output, whose virtual offsets
// are file offsets.
class InPlaceWriter : public ImageWriter {
 public:
  InPlaceWriter(File& file, uint64_t size) : file_(file), size_(size) {}
  uint64_t virtual_size() const override { return size_; }
  Status Write(uint64_t offset, std::span<const uint8_t> data) override { return WriteFull(file_, offset, data); }
  Status Finish() override { return {}; }

 private:
  File& file_;
  uint64_t size_;
};

// The OS volume, plaintext in the output until the guest edits are done,
// is encrypted where it lies: the engine reads each chunk before it writes
// it back, and never reads behind what it wrote.
Status EncryptInPlace(const EncryptCommandOptions& o, Disk& disk, const Volume& v, const SecretBytes& key,
                      Progress& progress) {
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(disk.target().temp_path()));
  ASSIGN_OR_RETURN(auto image, OpenImage(std::move(file), disk.work_kind == ContainerKind::kRaw ? FormatHint::kRaw
                                                                                                 : FormatHint::kVhd));
  InPlaceWriter writer(disk.target().file(), image->virtual_size());
  progress.Phase("encrypt", v.m.device + " (/)");
  VolumeJob job;
  job.source = image.get();
  job.source_offset = v.m.data_offset;
  job.length = v.m.size;
  job.out = &writer;
  job.out_offset = v.m.data_offset;
  job.key = key.span();
  job.sector_size = v.m.sector_size;
  return RunVolumeJob(job, EngineOptions{o.threads}, Advancer(progress));
}

// The raw work file into the output's container (a dynamic VHD), zero runs
// left unallocated; the work file is removed.
Status ConvertWorkFile(Disk& disk, const WriterOptions& options, Progress& progress) {
  progress.Phase("convert", disk.out_name);
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(disk.work->temp_path()));
  ASSIGN_OR_RETURN(auto image, OpenImage(std::move(file), FormatHint::kRaw));
  ASSIGN_OR_RETURN(auto writer, MakeWriter(disk.out_kind, disk.out->file(), disk.layout.out_size, options));
  ASSIGN_OR_RETURN(auto stats, CopyImage(*image, *writer, Advancer(progress)));
  (void)stats;
  RETURN_IF_ERROR(writer->Finish());
  disk.work.reset();
  return {};
}

Result<int> Encrypt(const EncryptCommandOptions& o) {
  HardenProcess();
  const bool want_os = o.rules.volume_type != VolumeType::kData;
  const bool want_data = o.rules.volume_type != VolumeType::kOs;
  if (want_os && o.data_only) {
    return UsageError("--data-only cannot encrypt the OS volume; use --volume-type data");
  }
  RETURN_IF_ERROR(CheckOutputDir(o.output_dir));
  SecretBytes passphrase;
  if (!o.key_file.empty()) {
    ASSIGN_OR_RETURN(passphrase, ReadKeyFile(o.key_file));
  } else {
    ASSIGN_OR_RETURN(passphrase, GeneratePassphrase());
  }
  // Wrapped now, before anything is inspected or written: a refused key
  // costs nothing and leaves nothing behind.
  std::vector<uint8_t> wrapped;
  if (!o.kek.empty()) {
    ASSIGN_OR_RETURN(wrapped, WrapPassphrase(o.kek, o.kek_alg, passphrase.span()));
  }

  std::vector<std::string> inputs = {o.image};
  inputs.insert(inputs.end(), o.data_disks.begin(), o.data_disks.end());
  guest::Facts facts;
  if (o.data_only) {
    ASSIGN_OR_RETURN(facts, ProbeDataDisks(inputs, o.format));
  } else {
    ASSIGN_OR_RETURN(facts, guest::CollectFacts({o.image, o.format, o.data_disks}));
  }
  const bool data_only = !facts.os.found;
  if (data_only) {
    if (!o.data_only) {
      spdlog::info("{}: no operating system found; encrypting every filesystem on the given disks", o.image);
    }
  } else {
    const auto findings = RunRules(facts, o.rules);
    const bool errors = std::any_of(findings.begin(), findings.end(),
                                    [](const Finding& f) { return f.severity == Severity::kError; });
    if (errors) {
      std::cerr << CheckText(facts, findings);
      if (!o.force) {
        spdlog::error("{}: check found errors; fix them, or pass --force to encrypt anyway", o.image);
        return kExitFindings;
      }
      spdlog::warn("{}: encrypting despite check errors (--force)", o.image);
    }
  }
  if (want_os && data_only) {
    return InvalidInput(o.image + ": no operating system found, so there is no OS volume to encrypt");
  }
  std::vector<Volume> volumes;
  if (want_os) {
    ASSIGN_OR_RETURN(Volume os, SelectOsVolume(o, facts));
    volumes.push_back(std::move(os));
  }
  if (want_data) {
    ASSIGN_OR_RETURN(VolumeSelection selection, SelectDataVolumes(facts));
    for (const auto& s : selection.skipped) spdlog::warn("{}", s);
    if (selection.volumes.empty() && !want_os) return InvalidInput(o.image + ": no data volume to encrypt");
    for (const auto& c : selection.volumes) volumes.push_back({c, {}});
  }
  std::mutex write_lock;  // outlives the disks' writers, which hold it
  std::vector<Disk> disks;
  // / holding /boot: the header needs a plaintext /boot, so one is made.
  const bool split_boot = want_os && !facts.separate_boot;
  RETURN_IF_ERROR(PlanDisks(o, volumes, disks, split_boot ? o.boot_size_mib * 1024 * 1024 : 0));
  const std::string boot_device =
      split_boot ? guest::ApplianceDevice(0, disks[0].layout.new_partition) : facts.boot_device;
  if (split_boot) {
    spdlog::info("{}: / holds /boot; /boot moves to a new {} MiB partition {}", o.image, o.boot_size_mib,
                 disks[0].layout.new_partition);
  }

  // Claim every output name before the long part, so a clash fails now.
  const std::string dir = o.output_dir;
  for (Disk& d : disks) {
    ASSIGN_OR_RETURN(d.out, OutputFile::Create(dir + "/" + d.out_name, o.force, d.input));
    if (d.work_kind != d.out_kind) {
      // Only its temporary name is ever used (it is never committed).
      ASSIGN_OR_RETURN(d.work, OutputFile::Create(dir + "/" + d.out_name + ".raw", true, d.input));
    }
  }
  // A generated passphrase is written in plaintext unless --kek wraps it:
  // then only the KEK's private half opens passphrase.wrapped, and a
  // plaintext copy beside it is written only when asked for. A --key-file
  // passphrase is the user's already and is never copied.
  std::unique_ptr<OutputFile> pass_out;
  if (o.key_file.empty() && (o.kek.empty() || o.write_passphrase)) {
    ASSIGN_OR_RETURN(pass_out, OutputFile::Create(dir + "/passphrase", o.force, "", OutputMode::kSecret));
    RETURN_IF_ERROR(WriteFull(pass_out->file(), 0, passphrase.span()));
  }
  std::unique_ptr<OutputFile> wrapped_out;
  if (!o.kek.empty()) {
    ASSIGN_OR_RETURN(wrapped_out,
                     OutputFile::Create(dir + "/" + kWrappedPassphraseName, o.force, "", OutputMode::kSecret));
    RETURN_IF_ERROR(WriteFull(wrapped_out->file(), 0, wrapped));
  }
  // The Key Vault secret for what was written: the wrapped passphrase when
  // there is one (the plaintext never goes to Key Vault then), else the
  // generated passphrase.
  std::unique_ptr<OutputFile> secret_out;
  if (pass_out || wrapped_out) {
    ASSIGN_OR_RETURN(SecretBytes secret_json, wrapped_out ? KeyVaultSecretJsonWrapped(wrapped, o.kek_alg, o.kek_url)
                                                          : KeyVaultSecretJson(passphrase.span()));
    ASSIGN_OR_RETURN(secret_out, OutputFile::Create(dir + "/" + kKeyVaultSecretName, o.force, "", OutputMode::kSecret));
    RETURN_IF_ERROR(WriteFull(secret_out->file(), 0, secret_json.span()));
  }
  // The key volume: where the guest's unlock code (and Azure's convention)
  // finds the passphrase at boot.
  std::unique_ptr<OutputFile> key_volume_out;
  if (!data_only && !o.no_key_volume) {
    ASSIGN_OR_RETURN(key_volume_out, CreateKeyVolume(dir, o.force));
  }
  ASSIGN_OR_RETURN(auto manifest_out, OutputFile::Create(dir + "/manifest.json", o.force));

  // Hash the inputs while the disks are written: it reads them once more,
  // from the page cache when they fit. Any early return stops it.
  auto stop = std::make_shared<std::atomic<bool>>(false);
  // The hash only has to be done when the manifest is written. Nicer than
  // the engine, it takes the CPU the pipeline leaves idle (waiting on reads
  // and writeback) instead of delaying it: on a 4 GiB disk with 2 cores, 8
  // alternating rounds took 4.26 s on average against 4.62 s at equal priority.
  // With --no-input-hash no thread is started and every digest stays empty
  // (null in the manifest).
  const auto policy = o.no_input_hash ? std::launch::deferred : std::launch::async;
  auto hashes = std::async(policy, [inputs, stop, skip = o.no_input_hash]() -> Result<std::vector<std::string>> {
    if (skip) return std::vector<std::string>(inputs.size());
    LowerThreadPriority(5);
    std::vector<std::string> out;
    for (const auto& in : inputs) {
      ASSIGN_OR_RETURN(std::string h, Sha256File(in, *stop));
      out.push_back(std::move(h));
    }
    return out;
  });
  struct StopOnExit {
    std::atomic<bool>& flag;
    ~StopOnExit() { flag = true; }
  } stop_on_exit{*stop};

  uint64_t total = 0;
  for (const Disk& d : disks) {
    for (const Segment& s : d.layout.segments) total += s.length;
  }
  for (const Volume& v : volumes) {
    if (v.os) total += v.m.size;  // copied, then encrypted in place
  }
  for (const Disk& d : disks) {
    if (d.work) total += d.layout.out_size;  // converted at the end
  }
  const auto start = std::chrono::steady_clock::now();
  {
    Progress progress(o.progress, total);
    ASSIGN_OR_RETURN(auto writer_options, DefaultWriterOptions());
    for (Disk& d : disks) {
      ASSIGN_OR_RETURN(auto w, MakeWriter(d.work_kind, d.target().file(), d.layout.out_size, writer_options));
      d.writer = std::make_unique<LockedWriter>(std::move(w), write_lock);
    }
    std::vector<SecretBytes> keys;
    for (Volume& v : volumes) {
      ASSIGN_OR_RETURN(SecretBytes key, VolumeKey());
      keys.push_back(std::move(key));
      v.m.luks_uuid = RandomLuksUuid();
      v.m.mapper_name = v.os ? kOsMapperName : MapperName(v.m.luks_uuid);
      if (v.os) {
        v.m.header = "detached";
        v.m.header_file = "/luks/osluksheader";  // kOsHeaderPath inside the /boot filesystem
        v.m.header_device = boot_device;
      }
    }
    std::atomic<bool> stop_headers{false};
    std::vector<uint8_t> os_header;
    auto headers = std::async(std::launch::async, [&]() {
      return WriteHeaders(o, disks, volumes, keys, passphrase, stop_headers, &os_header);
    });
    struct StopHeaders {
      std::atomic<bool>& flag;
      ~StopHeaders() { flag = true; }
    } stop_headers_on_exit{stop_headers};
    for (Disk& d : disks) RETURN_IF_ERROR(WriteDiskData(o, d, volumes, keys, progress));
    progress.Phase("luks-headers", "");
    RETURN_IF_ERROR(headers.get());
    for (Disk& d : disks) {
      for (const DiskWrite& w : d.layout.table_writes) RETURN_IF_ERROR(d.writer->Write(w.offset, w.bytes));
      RETURN_IF_ERROR(d.writer->Finish());
    }
    if (!data_only) {
      progress.Phase("guest-config", o.image);
      GuestEdit edit;
      edit.os_header = want_os ? &os_header : nullptr;
      edit.key_volume = key_volume_out.get();
      edit.passphrase = &passphrase;
      if (split_boot) edit.new_boot_device = boot_device;
      RETURN_IF_ERROR(EditGuest(facts, disks[0], volumes, edit));
    }
    for (size_t i = 0; i < volumes.size(); ++i) {
      if (volumes[i].os) RETURN_IF_ERROR(EncryptInPlace(o, disks[volumes[i].m.disk], volumes[i], keys[i], progress));
    }
    for (Disk& d : disks) {
      if (d.work) RETURN_IF_ERROR(ConvertWorkFile(d, writer_options, progress));
    }
    progress.Finish();
  }

  // Flush the images while the hash may still be running: their fsync then
  // overlaps it instead of following it (Commit's own fsync finds nothing
  // left to write).
  for (Disk& d : disks) RETURN_IF_ERROR(d.out->file().Sync());

  Manifest m;
  m.tool = "vhdcrypt 0.1.0";
  m.passphrase_file = pass_out ? "passphrase" : "";
  ASSIGN_OR_RETURN(auto sums, hashes.get());
  for (size_t i = 0; i < disks.size(); ++i) {
    const Disk& d = disks[i];
    m.disks.push_back({d.input, sums[i], ContainerKindName(d.image->kind()), d.image->virtual_size(), d.out_name,
                       ContainerKindName(d.out_kind), d.layout.out_size, TableKindName(d.table.kind),
                       i == 0 && !data_only});
  }
  for (const Volume& v : volumes) m.volumes.push_back(v.m);
  const std::string json = ManifestToJson(m);
  RETURN_IF_ERROR(WriteFull(manifest_out->file(), 0, std::span(reinterpret_cast<const uint8_t*>(json.data()), json.size())));

  // Images first, the manifest last: a manifest means a complete run.
  for (Disk& d : disks) RETURN_IF_ERROR(d.out->Commit());
  if (pass_out) RETURN_IF_ERROR(pass_out->Commit());
  if (wrapped_out) RETURN_IF_ERROR(wrapped_out->Commit());
  if (secret_out) RETURN_IF_ERROR(secret_out->Commit());
  if (key_volume_out) RETURN_IF_ERROR(key_volume_out->Commit());
  RETURN_IF_ERROR(manifest_out->Commit());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const Volume& v : volumes) {
    spdlog::info("{}: {} -> LUKS2 {} ({}-byte sectors) in {}/{}", v.m.device,
                 v.m.mountpoint.empty() ? v.m.filesystem : v.m.mountpoint, v.m.luks_uuid, v.m.sector_size, dir,
                 disks[v.m.disk].out_name);
  }
  spdlog::info("wrote {} disk(s), {} volume(s) in {:.1f}s{}{}{}{}", disks.size(), volumes.size(), secs,
               pass_out ? "; passphrase in " + dir + "/passphrase (mode 0600)" : "",
               wrapped_out ? std::string("; passphrase wrapped with ") + KekAlgName(o.kek_alg) + " in " + dir + "/" +
                                 kWrappedPassphraseName
                           : "",
               secret_out ? "; Key Vault secret in " + dir + "/" + kKeyVaultSecretName : "",
               key_volume_out ? "; key volume " + dir + "/" + kKeyVolumeName : "");
  if (o.verify) {
    std::vector<std::string> against = inputs;
    return VerifyDirectory(dir, passphrase, against);
  }
  return kExitOk;
}

}  // namespace

int RunEncrypt(const EncryptCommandOptions& options) {
  auto r = Encrypt(options);
  const int code = r.ok() ? *r : ReportError(r.error());
  if (options.progress == ProgressMode::kJson) {
    PrintJsonResult("encrypt", code,
                    r.ok() ? (code == kExitOk ? "" : "verification failed") : r.error().message(), options.output_dir);
  }
  return code;
}

}  // namespace vhdcrypt
