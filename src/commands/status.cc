#include "src/commands/status.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "base/exit_codes.h"
#include "base/json.h"
#include "base/strings.h"
#include "formats/image.h"
#include "formats/output_file.h"
#include "formats/partition_table.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/crypto/luks.h"
#include "src/guest/luks_scan.h"
#include "src/outdir/manifest.h"

namespace vhdcrypt {
namespace {

struct Disk {
  std::string path;
  std::string container;  // "raw", "vhd-fixed", "vhd-dynamic"; "" when unreadable
  bool partial = false;   // an unfinished output: say why in `note`
  std::string note;
  int drive = -1;  // appliance drive index, -1 when not added
  std::optional<Manifest> manifest;
  int manifest_disk = -1;  // its index in the manifest
};

struct Volume {
  std::string role;  // "os" or "data"
  int disk = 0;
  std::string device;
  uint32_t partition = 0;
  std::string mountpoint;
  bool encrypted = false;
  std::optional<LuksInfo> luks;
  std::string header;           // "attached" / "detached" / ""
  std::string header_location;  // "/dev/sda1:/luks/osluksheader" or "/dev/sdb1 (offset 0)"
  std::string filesystem;       // of a plaintext volume
  std::string problem;          // an encrypted volume whose header cannot be read: why
  // From vhdcrypt's manifest, when there is one: "encrypted", or "skipped"
  // (encrypt --skip-free-space wrote only the used blocks).
  std::string free_space;
  uint64_t encrypted_bytes = 0;
  void TakeFromManifest(const ManifestVolume* m) {
    if (m == nullptr) return;
    free_space = FreeSpaceName(m->free_space);
    encrypted_bytes = m->encrypted_bytes;
  }
};

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// Opens an image as formats/ would for encrypt; an unfinished vhdcrypt output
// is reported as such rather than as an error.
Result<Disk> OpenDisk(const std::string& path) {
  Disk d{path};
  const bool unfinished = IsOutputTempName(path);
  if (unfinished) {
    d.partial = true;
    d.note = "an unfinished vhdcrypt output (its temporary name): the run writing it was interrupted";
  }
  auto file = OpenReadOnly(path);
  if (!file.ok()) return file.error();
  auto image = OpenImage(std::move(*file), FormatHint::kAuto);
  if (!image.ok()) {
    if (unfinished) return d;
    return image.error();
  }
  d.container = ContainerKindName((*image)->kind());
  auto table = ReadPartitionTable(**image);
  if (!table.ok()) {
    if (unfinished) {
      d.container.clear();
      return d;
    }
    return table.error();
  }
  // A manifest beside the image names its volumes' mountpoints and the OS
  // volume's partition.
  const std::string dir = DirName(path);
  struct stat st;
  if (::stat((dir + "/manifest.json").c_str(), &st) == 0) {
    if (auto m = ReadManifest(dir); m.ok()) {
      for (size_t i = 0; i < m->disks.size(); ++i) {
        if (m->disks[i].output == BaseName(path)) {
          d.manifest = *m;
          d.manifest_disk = static_cast<int>(i);
        }
      }
    }
  }
  return d;
}

const ManifestVolume* ManifestVolumeOf(const Disk& d, uint32_t partition, bool detached) {
  if (!d.manifest) return nullptr;
  for (const auto& v : d.manifest->volumes) {
    if (v.disk != d.manifest_disk) continue;
    const bool is_detached = v.header == HeaderPlacement::kDetached;
    if (detached ? is_detached : (v.partition == partition && !is_detached)) return &v;
  }
  return nullptr;
}

// The mountpoint a plaintext root's fstab gives a device: by UUID=, LABEL=,
// or /dev/mapper/NAME of a crypttab line naming the LUKS UUID.
std::string MountpointFromRoot(const ScannedFilesystem* root, const std::string& fs_uuid, const std::string& label,
                               const std::string& luks_uuid) {
  if (root == nullptr) return "";
  std::string mapper;
  if (!luks_uuid.empty()) {
    for (const auto& c : guest::ParseCrypttab(root->crypttab)) {
      if (c.device == "UUID=" + luks_uuid || c.device == "/dev/disk/by-uuid/" + luks_uuid) mapper = c.name;
    }
  }
  for (const auto& e : guest::ParseFstab(root->fstab)) {
    if ((!fs_uuid.empty() && (e.spec == "UUID=" + fs_uuid || e.spec == "/dev/disk/by-uuid/" + fs_uuid)) ||
        (!label.empty() && e.spec == "LABEL=" + label) || (!mapper.empty() && (e.spec == "/dev/mapper/" + mapper))) {
      return e.file;
    }
  }
  return "";
}

// The images of the command line, with their appliance drives.
struct Scan {
  std::vector<Disk> disks;
  std::vector<guest::Drive> drives;
  std::vector<int> disk_of_drive;
  int DiskOf(const std::string& dev) const {
    const int drive = guest::ApplianceDiskIndex(dev);
    return drive >= 0 && static_cast<size_t>(drive) < disk_of_drive.size() ? disk_of_drive[drive] : 0;
  }
};

Result<Scan> OpenDisks(const StatusCommandOptions& o) {
  std::vector<std::string> paths = {o.image};
  paths.insert(paths.end(), o.data_disks.begin(), o.data_disks.end());
  Scan scan;
  for (const std::string& path : paths) {
    ASSIGN_OR_RETURN(Disk d, OpenDisk(path));
    if (!d.container.empty()) {
      d.drive = static_cast<int>(scan.drives.size());
      scan.drives.push_back({path, d.container == "raw" ? "raw" : "vpc", true});
      scan.disk_of_drive.push_back(static_cast<int>(scan.disks.size()));
    }
    scan.disks.push_back(std::move(d));
  }
  return scan;
}

// A volume from a LUKS header found in the images: attached at the start of
// a partition, or detached in a file (then the OS volume's: ADE's and
// vhdcrypt's layout; its partition is the manifest's, else the largest one on
// the same disk with no signature at all, which is ciphertext).
Result<Volume> EncryptedVolume(guest::Handle& g, const Scan& scan, const LuksScan& luks, const ScannedHeader& h,
                               const ScannedFilesystem* root) {
  Volume v;
  v.encrypted = true;
  v.disk = scan.DiskOf(h.device);
  const Disk& disk = scan.disks[v.disk];
  // Named by image and partition: /dev/sdb1 means nothing to the user.
  const int part = guest::AppliancePartitionNumber(h.device);
  const std::string where = disk.path + (part > 0 ? " partition " + std::to_string(part) : std::string());
  auto info = h.problem.empty() ? InspectLuksHeader(h.bytes) : Result<LuksInfo>(InvalidInput(h.problem));
  if (!info.ok()) {
    if (info.error().kind() != ErrorKind::kInvalidInput)
      return Error(info.error().kind(), where + ": " + info.error().message());
    // Reported, and the other volumes still are (RunStatus exits 3 after).
    v.device = h.device;
    v.partition = static_cast<uint32_t>(std::max(part, 0));
    v.role = h.file.empty() ? "data" : "os";  // a detached header is the OS volume's
    v.header = h.file.empty() ? "attached" : "detached";
    v.header_location = h.Describe();
    v.problem = where + ": " + info.error().message();
    return v;
  }
  v.luks = *info;
  if (h.file.empty()) {
    v.device = h.device;
    v.partition = static_cast<uint32_t>(guest::AppliancePartitionNumber(h.device));
    v.header = "attached";
    v.header_location = h.device + " (offset 0)";
    const ManifestVolume* m = ManifestVolumeOf(disk, v.partition, false);
    v.TakeFromManifest(m);
    v.mountpoint = m ? m->mountpoint : MountpointFromRoot(root, "", "", info->uuid);
    // Without a manifest, an attached-header OS volume (encrypt --os-header
    // attached) is known by the label encrypt gave its header.
    if (m == nullptr && v.mountpoint.empty() && info->label == kOsVolumeLabel) v.mountpoint = "/";
    v.role = v.mountpoint == "/" ? "os" : "data";
    return v;
  }
  v.role = "os";
  v.mountpoint = "/";
  v.header = "detached";
  v.header_location = h.Describe();
  const ManifestVolume* m = ManifestVolumeOf(disk, 0, true);
  v.TakeFromManifest(m);
  if (m != nullptr) {
    v.device = guest::ApplianceDevice(static_cast<size_t>(disk.drive), m->partition);
  } else {
    ASSIGN_OR_RETURN(v.device, DetachedVolumeDevice(g, luks, disk.drive));
  }
  v.partition = static_cast<uint32_t>(guest::AppliancePartitionNumber(v.device));
  return v;
}

// A plaintext filesystem that is a volume (not /boot, the ESP, the key
// volume, swap or an LVM PV), or nothing.
std::optional<Volume> PlaintextVolume(const Scan& scan, const ScannedFilesystem& fs, const ScannedFilesystem* root,
                                      bool os_found) {
  if (fs.boot || fs.esp || fs.key_volume || fs.type == "swap" || fs.type == "LVM2_member") return std::nullopt;
  Volume v;
  v.device = fs.device;
  v.disk = scan.DiskOf(fs.device);
  v.partition = static_cast<uint32_t>(guest::AppliancePartitionNumber(fs.device));
  v.filesystem = fs.type;
  if (fs.root) {
    if (os_found) return std::nullopt;
    v.role = "os";
    v.mountpoint = "/";
  } else {
    v.role = "data";
    v.mountpoint = MountpointFromRoot(root, fs.uuid, fs.label, "");
    if (v.mountpoint == "/boot" || v.mountpoint.starts_with("/boot/")) return std::nullopt;  // fstab says so
  }
  return v;
}

// Every volume of the images, in one appliance launch; the OS volume first,
// then by disk and partition.
Result<std::vector<Volume>> ScanVolumes(const Scan& scan) {
  std::vector<Volume> volumes;
  if (scan.drives.empty()) return volumes;
  ASSIGN_OR_RETURN(auto g, guest::Handle::Launch(scan.drives));
  ASSIGN_OR_RETURN(LuksScan luks, ScanImages(*g, /*keep_going=*/true));
  const ScannedFilesystem* root = nullptr;
  for (const auto& fs : luks.filesystems) {
    if (fs.root) root = &fs;
  }
  for (const ScannedHeader& h : luks.headers) {
    ASSIGN_OR_RETURN(Volume v, EncryptedVolume(*g, scan, luks, h, root));
    volumes.push_back(std::move(v));
  }
  const bool os_found = std::any_of(volumes.begin(), volumes.end(), [](const Volume& v) { return v.role == "os"; });
  for (const ScannedFilesystem& fs : luks.filesystems) {
    if (auto v = PlaintextVolume(scan, fs, root, os_found)) volumes.push_back(std::move(*v));
  }
  RETURN_IF_ERROR(g->Shutdown());
  std::stable_sort(volumes.begin(), volumes.end(), [](const Volume& a, const Volume& b) {
    if (a.role != b.role) return a.role == "os";
    return std::tie(a.disk, a.partition) < std::tie(b.disk, b.partition);
  });
  return volumes;
}

// ADE's words for the OS volume and the data volumes.
struct States {
  std::string os = "Unknown";
  std::string data = "NotMounted";
};

States AdeStates(const std::vector<Disk>& disks, const std::vector<Volume>& volumes) {
  States s;
  size_t data = 0, data_encrypted = 0;
  bool data_in_progress = false;
  for (const auto& v : volumes) {
    const bool reencrypting = v.luks && v.luks->reencrypting;
    if (v.role == "os") {
      s.os = !v.encrypted ? "NotEncrypted" : reencrypting ? "EncryptionInProgress" : "Encrypted";
      continue;
    }
    ++data;
    if (v.encrypted) ++data_encrypted;
    if (reencrypting) data_in_progress = true;
  }
  if (data > 0) s.data = data_encrypted == data ? "Encrypted" : "NotEncrypted";
  for (size_t i = 0; i < disks.size(); ++i) {
    if (!disks[i].partial) continue;
    data_in_progress = true;
    if (i == 0) s.os = "EncryptionInProgress";
  }
  if (data_in_progress) s.data = "EncryptionInProgress";
  return s;
}

std::string RenderJson(const std::vector<Disk>& disks, const std::vector<Volume>& volumes, const States& s) {
  nlohmann::ordered_json j;
  j["os_volume_encrypted"] = s.os;
  j["data_volumes_encrypted"] = s.data;
  j["volumes"] = nlohmann::ordered_json::array();
  for (const auto& v : volumes) {
    nlohmann::ordered_json x;
    x["role"] = v.role;
    x["disk"] = v.disk;
    x["image"] = disks[v.disk].path;
    x["device"] = v.device;
    x["partition"] = v.partition;
    x["mountpoint"] = v.mountpoint;
    x["encrypted"] = v.encrypted;
    if (v.luks) {
      x["luks_version"] = v.luks->version;
      x["cipher"] = v.luks->cipher;
      x["key_bits"] = v.luks->key_bits;
      x["sector_size"] = v.luks->sector_size;
      x["uuid"] = v.luks->uuid;
      x["header"] = v.header;
      x["header_location"] = v.header_location;
      x["encryption_in_progress"] = v.luks->reencrypting;
      x["unknown_requirements"] = v.luks->unknown_requirements;
      x["key_slots"] = nlohmann::ordered_json::array();
      for (const LuksKeySlot& k : v.luks->key_slots) x["key_slots"].push_back({{"slot", k.slot}, {"kind", k.kind}});
      x["tokens"] = nlohmann::ordered_json::array();
      for (const LuksToken& t : v.luks->tokens) {
        x["tokens"].push_back({{"id", t.id}, {"type", t.type}, {"keyslots", t.keyslots}});
      }
      if (!v.free_space.empty()) {
        x["free_space"] = v.free_space;
        x["encrypted_bytes"] = v.encrypted_bytes;
      }
    } else if (!v.problem.empty()) {
      x["header"] = v.header;
      x["header_location"] = v.header_location;
      x["error"] = v.problem;
    } else {
      x["filesystem"] = v.filesystem;
    }
    j["volumes"].push_back(x);
  }
  j["images"] = nlohmann::ordered_json::array();
  for (const auto& d : disks) {
    j["images"].push_back({{"path", d.path}, {"container", d.container}, {"unfinished", d.partial}, {"note", d.note}});
  }
  return JsonText(j, 2) + "\n";
}

void RenderText(std::ostream& out, const std::vector<Disk>& disks, const std::vector<Volume>& volumes,
                const States& s) {
  out << "OsVolumeEncrypted:    " << s.os << "\n"
      << "DataVolumesEncrypted: " << s.data << "\n";
  for (const auto& d : disks) {
    if (d.partial) out << d.path << ": " << d.note << "\n";
  }
  for (const auto& v : volumes) {
    out << std::left << std::setw(5) << v.role << std::setw(11) << (v.device.empty() ? "?" : v.device) << std::setw(12)
        << (v.mountpoint.empty() ? "-" : v.mountpoint);
    if (v.luks) {
      out << "LUKS" << v.luks->version << " " << v.luks->cipher << " " << v.luks->key_bits << "-bit key, "
          << v.luks->sector_size << "-byte sectors, UUID " << v.luks->uuid << ", header " << v.header << " ("
          << v.header_location << ")" << (v.luks->reencrypting ? ", encryption in progress" : "")
          << (v.luks->unknown_requirements ? ", requirement flags this libcryptsetup does not know (cannot be opened)"
                                           : "")
          << (v.free_space == FreeSpaceName(FreeSpace::kSkipped)
                  ? ", free space skipped (" + HumanBytes(v.encrypted_bytes) + " in use encrypted)"
                  : "");
      for (size_t i = 0; i < v.luks->key_slots.size(); ++i) {
        const LuksKeySlot& k = v.luks->key_slots[i];
        out << (i == 0 ? ", key slots " : ", ") << k.slot << " (" << k.kind << ")";
      }
    } else if (!v.problem.empty()) {
      out << "encrypted, header unreadable: " << v.problem;
    } else {
      out << "not encrypted (" << v.filesystem << ")";
    }
    out << "\n";
  }
}

}  // namespace

// Collect, then render.
Result<int> RunStatus(const StatusCommandOptions& o) {
  ASSIGN_OR_RETURN(Scan scan, OpenDisks(o));
  ASSIGN_OR_RETURN(std::vector<Volume> volumes, ScanVolumes(scan));
  const States states = AdeStates(scan.disks, volumes);
  if (o.json) {
    std::cout << RenderJson(scan.disks, volumes, states);
  } else {
    std::ostringstream text;
    RenderText(text, scan.disks, volumes, states);
    std::cout << TerminalSafe(text.str());
  }
  std::cout.flush();
  // Every volume was reported; a header that could not be read still makes
  // the run fail (exit 3), naming the first.
  for (const auto& v : volumes) {
    if (!v.problem.empty()) return InvalidInput(v.problem);
  }
  return kExitOk;
}

}  // namespace vhdcrypt
