// What the appliance sees of encrypted images, for rekey, status and decrypt: every
// LUKS2 header (attached to a disk or partition, found by signature; or
// detached, a file /luks/osluksheader or /boot/luks/osluksheader on a
// plaintext filesystem: vhdcrypt's and ADE's OS volume), the plaintext
// filesystems with what marks their role, and the devices that hold neither
// (ciphertext of a detached-header volume, or unused). Filesystems are only
// ever mounted read-only here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "guestfs/handle.h"

namespace vhdcrypt {

struct ScannedHeader {
  std::string device;  // attached: the LUKS device; detached: the filesystem holding the file
  std::string file;    // "" when attached
  std::vector<uint8_t> bytes;
  // With ScanImages' keep_going: why the header could not be read (bytes
  // empty then); "" when it was.
  std::string problem;
  std::string Describe() const { return file.empty() ? device : device + ":" + file; }
};

struct ScannedFilesystem {
  std::string device, type, label, uuid;
  bool root = false;                         // holds /etc/fstab
  bool boot = false;                         // holds a GRUB directory, kernels, or a detached LUKS header at its top
  bool esp = false;                          // vfat with /EFI
  bool key_volume = false;                   // vfat "BEK VOLUME" with LinuxPassPhraseFileName
  std::vector<std::string> fstab, crypttab;  // a root's /etc/fstab and /etc/crypttab lines
};

struct LuksScan {
  std::vector<ScannedHeader> headers;
  std::vector<ScannedFilesystem> filesystems;
  std::vector<std::string> unrecognised;  // disks and partitions with no signature at all
};

// Detached headers of more than this are refused.
constexpr uint64_t kMaxDetachedHeaderBytes = 64u << 20;

// keep_going (status): a LUKS header that is malformed is kept as a
// ScannedHeader with its problem, so the other volumes are still reported;
// otherwise (decrypt, rekey) it is an error.
Result<LuksScan> ScanImages(guest::Handle& g, bool keep_going = false);

// The partition a detached header found on drive `drive` belongs to, when
// nothing else says: the largest partition of that drive with no signature
// at all (ciphertext). "" when there is none.
Result<std::string> DetachedVolumeDevice(guest::Handle& g, const LuksScan& scan, int drive);

}  // namespace vhdcrypt
