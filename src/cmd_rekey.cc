#include "src/cmd_rekey.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "formats/image.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/exit_codes.h"
#include "src/key_volume.h"
#include "src/report.h"
#include "src/secret.h"

namespace vhdcrypt {
namespace {

constexpr uint64_t kMaxDetachedHeader = 64u << 20;

struct Found {
  std::string device;  // the LUKS device (attached), or the filesystem holding the header file
  std::string file;    // "" for an attached header; the header file's path on `device`
  std::vector<uint8_t> header;
  std::vector<uint8_t> changed;
  std::string Describe() const { return file.empty() ? device : device + ":" + file; }
};

// An attached header: binary header, JSON, key slots, read from the device.
Result<std::vector<uint8_t>> ReadAttachedHeader(guest::Handle& g, const std::string& dev) {
  ASSIGN_OR_RETURN(auto first, g.PreadDevice(dev, 4096, 0));
  ASSIGN_OR_RETURN(uint64_t hdr_size, Luks2HdrSize(dev, first));
  if (hdr_size == 0) return InvalidInput(dev + ": blkid says crypto_LUKS, but there is no LUKS2 signature");
  ASSIGN_OR_RETURN(auto primary, g.PreadDevice(dev, hdr_size, 0));
  ASSIGN_OR_RETURN(uint64_t total, Luks2MetadataBytes(dev, primary));
  return g.PreadDevice(dev, total, 0);
}

Result<int> Rekey(const RekeyCommandOptions& o) {
  ASSIGN_OR_RETURN(SecretBytes old_pass, ReadKeyFile(o.key_file));
  ASSIGN_OR_RETURN(SecretBytes new_pass, ReadKeyFile(o.new_key_file));
  if (old_pass.size() == new_pass.size() &&
      std::equal(old_pass.data(), old_pass.data() + old_pass.size(), new_pass.data())) {
    return UsageError(o.new_key_file + ": holds the same passphrase as " + o.key_file);
  }
  std::vector<guest::Drive> drives;
  for (const std::string& path : o.images) {
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(path));
    ASSIGN_OR_RETURN(auto img, OpenImage(std::move(file), FormatHint::kAuto));
    drives.push_back({path, guest::GuestfsFormat(img->kind()), /*readonly=*/false});
  }
  ASSIGN_OR_RETURN(LuksOptions luks, CalibrateLuksOptions(o.luks));
  ASSIGN_OR_RETURN(auto g, guest::Handle::Launch(drives, /*sensitive=*/true));

  // Find: LUKS devices, detached headers and key volumes.
  std::vector<Found> found;
  std::vector<std::string> key_volumes;
  // Every disk and partition by its signature (list_filesystems leaves out
  // a LUKS volume written to a whole disk).
  ASSIGN_OR_RETURN(auto devices, g->ListDevices());
  ASSIGN_OR_RETURN(auto partitions, g->ListPartitions());
  devices.insert(devices.end(), partitions.begin(), partitions.end());
  for (const std::string& dev : devices) {
    auto vfs = g->VfsType(dev);
    const std::string type = vfs.ok() ? *vfs : "";
    if (type == "crypto_LUKS") {
      ASSIGN_OR_RETURN(auto header, ReadAttachedHeader(*g, dev));
      found.push_back({dev, "", std::move(header), {}});
      continue;
    }
    if (type != "ext2" && type != "ext3" && type != "ext4" && type != "xfs" && type != "vfat") continue;
    if (!g->MountRo(dev, "/").ok()) continue;  // not mountable: not ours to look into
    for (const char* path : {"/luks/osluksheader", "/boot/luks/osluksheader"}) {
      ASSIGN_OR_RETURN(bool exists, g->Exists(path));
      if (!exists) continue;
      ASSIGN_OR_RETURN(auto header, g->ReadBytes(path, kMaxDetachedHeader));
      found.push_back({dev, path, std::move(header), {}});
    }
    if (type == "vfat") {
      ASSIGN_OR_RETURN(auto tags, g->Blkid(dev));
      ASSIGN_OR_RETURN(bool has_file, g->Exists(std::string("/") + kKeyFileName));
      if (tags["LABEL"] == kKeyVolumeLabel && has_file) {
        ASSIGN_OR_RETURN(auto held, g->ReadBytes(std::string("/") + kKeyFileName, 4096));
        if (held.size() != old_pass.size() || !std::equal(held.begin(), held.end(), old_pass.data())) {
          OPENSSL_cleanse(held.data(), held.size());
          return UsageError(dev + " (key volume): its " + kKeyFileName +
                            " does not hold the old passphrase; nothing was changed");
        }
        OPENSSL_cleanse(held.data(), held.size());
        key_volumes.push_back(dev);
      }
    }
    RETURN_IF_ERROR(g->UmountAll());
  }
  if (found.empty()) return InvalidInput("no LUKS2 volume found in the image(s); nothing was changed");

  // Change every header in memory first: a wrong passphrase anywhere changes nothing.
  for (Found& f : found) {
    auto changed = ChangeLuksPassphrase(f.header, old_pass, new_pass, luks);
    if (!changed.ok()) {
      return Error(changed.error().kind(), f.Describe() + ": " + changed.error().message() + "; nothing was changed");
    }
    f.changed = std::move(*changed);
  }
  for (const Found& f : found) {
    spdlog::info("{}: writing the header with the new key slot", f.Describe());
    if (f.file.empty()) {
      RETURN_IF_ERROR(g->PwriteDevice(f.device, f.changed, 0));
    } else {
      RETURN_IF_ERROR(g->Mount(f.device, "/"));
      RETURN_IF_ERROR(g->PwriteFile(f.file, f.changed, 0));
      RETURN_IF_ERROR(g->UmountAll());
    }
  }
  for (const std::string& dev : key_volumes) {
    spdlog::info("{}: the key volume gets the new passphrase", dev);
    RETURN_IF_ERROR(g->Mount(dev, "/"));
    RETURN_IF_ERROR(g->WriteBytes(std::string("/") + kKeyFileName, new_pass.span()));
    RETURN_IF_ERROR(g->UmountAll());
  }
  // Read back what landed: the new passphrase opens each header, the old none.
  for (const Found& f : found) {
    std::vector<uint8_t> now;
    if (f.file.empty()) {
      ASSIGN_OR_RETURN(now, g->PreadDevice(f.device, f.changed.size(), 0));
    } else {
      RETURN_IF_ERROR(g->MountRo(f.device, "/"));
      ASSIGN_OR_RETURN(now, g->ReadBytes(f.file, kMaxDetachedHeader));
      RETURN_IF_ERROR(g->UmountAll());
    }
    if (now != f.changed) return IoError(f.Describe() + ": the header read back differs from what was written");
  }
  RETURN_IF_ERROR(g->Shutdown());
  for (const Found& f : found) {
    std::cout << "rekeyed " << f.Describe() << (f.file.empty() ? "" : " (detached header)") << "\n";
  }
  for (const std::string& dev : key_volumes) std::cout << "rekeyed " << dev << " (key volume)\n";
  return kExitOk;
}

}  // namespace

int RunRekey(const RekeyCommandOptions& o) {
  HardenProcess();
  auto r = Rekey(o);
  if (!r.ok()) return ReportError(r.error());
  return *r;
}

}  // namespace vhdcrypt
