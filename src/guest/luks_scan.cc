#include "src/guest/luks_scan.h"

#include <algorithm>

#include "guestfs/inspect.h"
#include "src/crypto/luks.h"
#include "src/guest/key_volume.h"

namespace vhdcrypt {
namespace {

// The LUKS2 metadata size from the secondary header copy, for a primary
// whose signature is gone; 0 when there is no secondary either.
Result<uint64_t> SecondaryMetadataBytes(guest::Handle& g, const std::string& dev) {
  ASSIGN_OR_RETURN(uint64_t device_size, g.DeviceSize(dev));
  for (uint64_t offset : kLuks2SecondaryOffsets) {
    if (offset + 4096 > device_size) break;
    ASSIGN_OR_RETURN(auto head, g.PreadDevice(dev, 4096, offset));
    auto hdr_size = Luks2HdrSize(dev, head);
    if (!hdr_size.ok() || *hdr_size != offset) continue;  // the secondary's hdr_size is its own offset
    ASSIGN_OR_RETURN(auto secondary, g.PreadDevice(dev, offset, offset));
    return Luks2MetadataBytes(dev + " (secondary header at " + std::to_string(offset) + ")", secondary);
  }
  return uint64_t{0};
}

// An attached header: binary header, JSON, key slots, read from the device.
// LUKS1 (made by other tools) is read whole for status to describe; a LUKS2
// primary that is damaged is sized from its secondary copy, as cryptsetup
// does.
Result<std::vector<uint8_t>> ReadAttachedHeader(guest::Handle& g, const std::string& dev) {
  ASSIGN_OR_RETURN(auto first, g.PreadDevice(dev, 4096, 0));
  if (LuksVersion(first) == 1) {
    ASSIGN_OR_RETURN(uint64_t bytes, Luks1HeaderBytes(dev, first));
    return g.PreadDevice(dev, bytes, 0);
  }
  ASSIGN_OR_RETURN(uint64_t hdr_size, Luks2HdrSize(dev, first));
  uint64_t total = 0;
  if (hdr_size == 0) {
    ASSIGN_OR_RETURN(total, SecondaryMetadataBytes(g, dev));
    if (total == 0) return InvalidInput(dev + ": blkid says crypto_LUKS, but there is no LUKS signature");
  } else {
    ASSIGN_OR_RETURN(auto primary, g.PreadDevice(dev, hdr_size, 0));
    auto from_primary = Luks2MetadataBytes(dev, primary);
    if (from_primary.ok()) {
      total = *from_primary;
    } else {  // a damaged JSON area: the secondary may still be whole
      ASSIGN_OR_RETURN(total, SecondaryMetadataBytes(g, dev));
      if (total == 0) return from_primary.error();
    }
  }
  return g.PreadDevice(dev, total, 0);
}

// A mounted plaintext filesystem: its role and any detached header on it.
Status LookInto(guest::Handle& g, ScannedFilesystem& fs, LuksScan& scan) {
  for (const char* path : {"/luks/osluksheader", "/boot/luks/osluksheader"}) {
    ASSIGN_OR_RETURN(bool exists, g.Exists(path));
    if (!exists) continue;
    ASSIGN_OR_RETURN(auto bytes, g.ReadBytes(path, kMaxDetachedHeaderBytes));
    scan.headers.push_back({fs.device, path, std::move(bytes)});
    if (std::string(path) == "/luks/osluksheader") fs.boot = true;
  }
  ASSIGN_OR_RETURN(fs.root, g.Exists("/etc/fstab"));
  if (fs.root) {
    ASSIGN_OR_RETURN(fs.fstab, g.ReadLines("/etc/fstab"));
    ASSIGN_OR_RETURN(fs.crypttab, g.ReadLinesIfExists("/etc/crypttab"));
  }
  for (const char* marker : {"/grub", "/grub2", "/loader"}) {
    ASSIGN_OR_RETURN(bool here, g.IsDir(marker));
    fs.boot = fs.boot || here;
  }
  if (fs.type == "vfat") {
    ASSIGN_OR_RETURN(fs.esp, g.IsDir("/EFI"));
    ASSIGN_OR_RETURN(bool key_file, g.Exists(std::string("/") + kKeyFileName));
    fs.key_volume = fs.label == kKeyVolumeLabel && key_file;
  }
  return {};
}

}  // namespace

Result<LuksScan> ScanImages(guest::Handle& g, bool keep_going) {
  LuksScan scan;
  // Disks and partitions by signature (list_filesystems leaves out a LUKS
  // volume written to a whole disk), then logical volumes.
  ASSIGN_OR_RETURN(auto devices, g.ListDevices());
  ASSIGN_OR_RETURN(auto partitions, g.ListPartitions());
  devices.insert(devices.end(), partitions.begin(), partitions.end());
  ASSIGN_OR_RETURN(auto lvs, g.Lvs());
  devices.insert(devices.end(), lvs.begin(), lvs.end());
  for (const std::string& dev : devices) {
    auto vfs = g.VfsType(dev);
    const std::string type = vfs.ok() ? *vfs : "";
    if (type == "crypto_LUKS") {
      auto bytes = ReadAttachedHeader(g, dev);
      if (!bytes.ok() && keep_going && bytes.error().kind() == ErrorKind::kInvalidInput) {
        scan.headers.push_back({dev, "", {}, bytes.error().message()});
        continue;
      }
      if (!bytes.ok()) return bytes.error();
      scan.headers.push_back({dev, "", std::move(*bytes)});
      continue;
    }
    const bool is_disk = std::find(partitions.begin(), partitions.end(), dev) == partitions.end() &&
                         std::find(lvs.begin(), lvs.end(), dev) == lvs.end();
    if (type.empty()) {
      // A whole disk with a partition table has no signature of its own.
      const bool has_partitions =
          std::any_of(partitions.begin(), partitions.end(), [&](const std::string& p) { return p.rfind(dev, 0) == 0; });
      if (!(is_disk && has_partitions)) scan.unrecognised.push_back(dev);
      continue;
    }
    ScannedFilesystem fs{dev, type};
    if (auto tags = g.Blkid(dev); tags.ok()) {
      fs.label = (*tags)["LABEL"];
      fs.uuid = (*tags)["UUID"];
    }
    const bool mountable =
        type == "ext2" || type == "ext3" || type == "ext4" || type == "xfs" || type == "vfat" || type == "btrfs";
    if (mountable && g.MountRo(dev, "/").ok()) {
      Status looked = LookInto(g, fs, scan);
      RETURN_IF_ERROR(g.UmountAll());
      RETURN_IF_ERROR(looked);
    }
    scan.filesystems.push_back(std::move(fs));
  }
  return scan;
}

Result<std::string> DetachedVolumeDevice(guest::Handle& g, const LuksScan& scan, int drive) {
  std::string best_dev;
  uint64_t best = 0;
  for (const std::string& dev : scan.unrecognised) {
    if (guest::ApplianceDiskIndex(dev) != drive || guest::AppliancePartitionNumber(dev) == 0) continue;
    ASSIGN_OR_RETURN(uint64_t size, g.DeviceSize(dev));
    if (size > best) {
      best = size;
      best_dev = dev;
    }
  }
  return best_dev;
}

}  // namespace vhdcrypt
