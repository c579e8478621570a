#include "src/commands/rekey.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "base/exit_codes.h"
#include "formats/image.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/crypto/secret.h"
#include "src/guest/initramfs_header.h"
#include "src/guest/key_volume.h"
#include "src/guest/luks_scan.h"

namespace vhdcrypt {
namespace {

struct Found {
  ScannedHeader h;
  std::string where;  // the header named by image and partition (UserDeviceName)
  std::vector<uint8_t> changed;
  size_t initramfs = 0;  // initramfs images given the new header
  std::string Describe() const { return h.file.empty() ? where : h.file + " on " + where; }
};

// A key volume, by appliance device and by the user's name for it.
struct KeyVolume {
  std::string device, where;
};

// The images added writable to one appliance, each with its explicit format.
Result<std::vector<guest::Drive>> WritableDrives(const std::vector<std::string>& images) {
  std::vector<guest::Drive> drives;
  for (const std::string& path : images) {
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(path));
    ASSIGN_OR_RETURN(auto img, OpenImage(std::move(file), FormatHint::kAuto));
    drives.push_back({path, guest::GuestfsFormat(img->kind()), /*readonly=*/false});
  }
  return drives;
}

// The key volumes found, each of which must hold the old passphrase.
Result<std::vector<KeyVolume>> KeyVolumesHolding(guest::Handle& g, const LuksScan& scan,
                                                 const std::vector<std::string>& images, const SecretBytes& old_pass) {
  std::vector<KeyVolume> key_volumes;
  for (const ScannedFilesystem& fs : scan.filesystems) {
    if (!fs.key_volume) continue;
    RETURN_IF_ERROR(g.MountRo(fs.device, "/"));
    ASSIGN_OR_RETURN(auto held, g.ReadBytes(std::string("/") + kKeyFileName, 4096));
    RETURN_IF_ERROR(g.UmountAll());
    const bool same = old_pass.Equals(held);
    OPENSSL_cleanse(held.data(), held.size());
    const std::string where = guest::UserDeviceName(images, fs.device);
    if (!same) {
      return UsageError(where + " (key volume): its " + kKeyFileName +
                        " does not hold the old passphrase; nothing was changed");
    }
    key_volumes.push_back({fs.device, where});
  }
  return key_volumes;
}

// Every header changed in memory first: a wrong passphrase anywhere changes nothing.
Status ChangeHeaders(std::vector<Found>& found, const SecretBytes& old_pass, const SecretBytes& new_pass,
                     const LuksOptions& luks) {
  for (Found& f : found) {
    auto changed = ChangeLuksPassphrase(f.h.bytes, old_pass, new_pass, luks);
    if (!changed.ok()) {
      return Error(changed.error().kind(), f.Describe() + ": " + changed.error().message() + "; nothing was changed");
    }
    f.changed = std::move(*changed);
  }
  return {};
}

Status WriteHeadersAndKeyVolumes(guest::Handle& g, std::vector<Found>& found, const std::vector<KeyVolume>& key_volumes,
                                 const SecretBytes& new_pass) {
  for (Found& f : found) {
    spdlog::info("{}: writing the header with the new key slot", f.Describe());
    if (f.h.file.empty()) {
      RETURN_IF_ERROR(g.PwriteDevice(f.h.device, f.changed, 0));
    } else {
      ASSIGN_OR_RETURN(f.initramfs, ReplaceDetachedHeader(g, f.h.device, f.h.file, f.changed, f.Describe()));
    }
  }
  for (const KeyVolume& k : key_volumes) {
    spdlog::info("{}: the key volume gets the new passphrase", k.where);
    RETURN_IF_ERROR(g.Mount(k.device, "/"));
    RETURN_IF_ERROR(g.WriteBytes(std::string("/") + kKeyFileName, new_pass.span()));
    RETURN_IF_ERROR(g.UmountAll());
  }
  return {};
}

// Reads back what landed: each attached header exactly as written (a
// detached one was, by ReplaceDetachedHeader).
Status ReadBack(guest::Handle& g, const std::vector<Found>& found) {
  for (const Found& f : found) {
    if (!f.h.file.empty()) continue;
    ASSIGN_OR_RETURN(std::vector<uint8_t> now, g.PreadDevice(f.h.device, f.changed.size(), 0));
    if (now != f.changed) return IoError(f.Describe() + ": the header read back differs from what was written");
  }
  return {};
}

Result<int> Rekey(const RekeyCommandOptions& o) {
  ASSIGN_OR_RETURN(SecretBytes old_pass, ReadKeyFile(o.key_file));
  ASSIGN_OR_RETURN(SecretBytes new_pass, ReadKeyFile(o.new_key_file));
  if (old_pass.Equals(new_pass.span())) {
    return UsageError(o.new_key_file + ": holds the same passphrase as " + o.key_file);
  }
  ASSIGN_OR_RETURN(auto drives, WritableDrives(o.images));
  ASSIGN_OR_RETURN(LuksOptions luks, CalibrateLuksOptions(o.luks));
  ASSIGN_OR_RETURN(auto g, guest::Handle::Launch(drives, /*sensitive=*/true));
  // Find: LUKS devices, detached headers and key volumes.
  ASSIGN_OR_RETURN(LuksScan scan, ScanImages(*g));
  std::vector<Found> found;
  for (auto& h : scan.headers) {
    const std::string where = guest::UserDeviceName(o.images, h.device);
    found.push_back({std::move(h), where, {}});
  }
  ASSIGN_OR_RETURN(auto key_volumes, KeyVolumesHolding(*g, scan, o.images, old_pass));
  if (found.empty()) return InvalidInput("no LUKS2 volume found in the image(s); nothing was changed");
  RETURN_IF_ERROR(ChangeHeaders(found, old_pass, new_pass, luks));
  RETURN_IF_ERROR(WriteHeadersAndKeyVolumes(*g, found, key_volumes, new_pass));
  RETURN_IF_ERROR(ReadBack(*g, found));
  RETURN_IF_ERROR(g->Shutdown());
  for (const Found& f : found) {
    std::cout << "rekeyed " << f.Describe()
              << (f.h.file.empty()
                      ? ""
                      : " (detached header; also in " + std::to_string(f.initramfs) + " initramfs image(s))")
              << "\n";
  }
  for (const KeyVolume& k : key_volumes) std::cout << "rekeyed " << k.where << " (key volume)\n";
  return kExitOk;
}

}  // namespace

Result<int> RunRekey(const RekeyCommandOptions& o) {
  HardenProcess();
  return Rekey(o);
}

}  // namespace vhdcrypt
