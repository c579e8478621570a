#include "src/cmd_rekey.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <iostream>
#include <memory>

#include "formats/image.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/cpio.h"
#include "src/exit_codes.h"
#include "src/key_volume.h"
#include "src/luks_scan.h"
#include "src/report.h"
#include "src/secret.h"

namespace vhdcrypt {
namespace {

struct Found {
  ScannedHeader h;
  std::vector<uint8_t> changed;
  size_t initramfs = 0;  // initramfs images given the new header
  std::string Describe() const { return h.Describe(); }
};

// The guest's initramfs images hold a copy of the detached header (the
// initramfs opens the OS volume before /boot is mounted): each image on the
// filesystem of `header_path` gets a small cpio archive appended with the new
// header at /boot/luks/osluksheader, which the kernel unpacks after the
// original and so uses instead of the old copy. Returns how many images.
Result<size_t> UpdateInitramfsCopies(guest::Handle& g, const std::string& header_path,
                                     const std::vector<uint8_t>& header) {
  const std::string dir = header_path.substr(0, header_path.size() - std::string("luks/osluksheader").size());
  std::vector<std::string> images;
  for (const char* pattern : {"initrd.img-*", "initramfs-*.img"}) {
    ASSIGN_OR_RETURN(auto found, g.Glob(dir + pattern));
    for (const auto& path : found) {
      if (path.find("kdump") == std::string::npos) images.push_back(path);
    }
  }
  std::vector<CpioEntry> entries = {{"boot", 040755, {}}, {"boot/luks", 040700, {}},
                                    {"boot/luks/osluksheader", 0100600, header}};
  const auto archive = NewcArchive(entries, static_cast<uint32_t>(std::time(nullptr)));
  for (const std::string& image : images) {
    ASSIGN_OR_RETURN(uint64_t size, g.FileSize(image));
    std::vector<uint8_t> bytes((4 - size % 4) % 4, 0);  // the next archive starts 4-byte aligned
    bytes.insert(bytes.end(), archive.begin(), archive.end());
    spdlog::info("{}: appending the new header to the initramfs", image);
    RETURN_IF_ERROR(g.AppendBytes(image, bytes));
  }
  return images.size();
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
  ASSIGN_OR_RETURN(LuksScan scan, ScanImages(*g));
  std::vector<Found> found;
  for (auto& h : scan.headers) found.push_back({std::move(h), {}});
  std::vector<std::string> key_volumes;
  for (const ScannedFilesystem& fs : scan.filesystems) {
    if (!fs.key_volume) continue;
    RETURN_IF_ERROR(g->MountRo(fs.device, "/"));
    ASSIGN_OR_RETURN(auto held, g->ReadBytes(std::string("/") + kKeyFileName, 4096));
    RETURN_IF_ERROR(g->UmountAll());
    const bool same = held.size() == old_pass.size() && std::equal(held.begin(), held.end(), old_pass.data());
    OPENSSL_cleanse(held.data(), held.size());
    if (!same) {
      return UsageError(fs.device + " (key volume): its " + kKeyFileName +
                        " does not hold the old passphrase; nothing was changed");
    }
    key_volumes.push_back(fs.device);
  }
  if (found.empty()) return InvalidInput("no LUKS2 volume found in the image(s); nothing was changed");

  // Change every header in memory first: a wrong passphrase anywhere changes nothing.
  for (Found& f : found) {
    auto changed = ChangeLuksPassphrase(f.h.bytes, old_pass, new_pass, luks);
    if (!changed.ok()) {
      return Error(changed.error().kind(), f.Describe() + ": " + changed.error().message() + "; nothing was changed");
    }
    f.changed = std::move(*changed);
  }
  for (Found& f : found) {
    spdlog::info("{}: writing the header with the new key slot", f.Describe());
    if (f.h.file.empty()) {
      RETURN_IF_ERROR(g->PwriteDevice(f.h.device, f.changed, 0));
    } else {
      RETURN_IF_ERROR(g->Mount(f.h.device, "/"));
      RETURN_IF_ERROR(g->PwriteFile(f.h.file, f.changed, 0));
      ASSIGN_OR_RETURN(f.initramfs, UpdateInitramfsCopies(*g, f.h.file, f.changed));
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
    if (f.h.file.empty()) {
      ASSIGN_OR_RETURN(now, g->PreadDevice(f.h.device, f.changed.size(), 0));
    } else {
      RETURN_IF_ERROR(g->MountRo(f.h.device, "/"));
      ASSIGN_OR_RETURN(now, g->ReadBytes(f.h.file, kMaxDetachedHeaderBytes));
      RETURN_IF_ERROR(g->UmountAll());
    }
    if (now != f.changed) return IoError(f.Describe() + ": the header read back differs from what was written");
  }
  RETURN_IF_ERROR(g->Shutdown());
  for (const Found& f : found) {
    std::cout << "rekeyed " << f.Describe()
              << (f.h.file.empty() ? ""
                                   : " (detached header; also in " + std::to_string(f.initramfs) + " initramfs image(s))")
              << "\n";
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
