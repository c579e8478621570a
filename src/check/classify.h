// How check and encrypt see each fstab entry of a guest: resolved to which
// filesystem, skipped or not, OS or data. Public: the volume selection
// (src/plan) and encrypt use it; the rest of the rules stay private.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "guestfs/facts.h"
#include "guestfs/fstab_spec.h"
#include "src/check/rules.h"

namespace vhdcrypt::rules {

inline bool IncludesOs(VolumeType t) { return t != VolumeType::kData; }
inline bool IncludesData(VolumeType t) { return t != VolumeType::kOs; }

// An fstab entry resolved against the filesystems the appliance found
// (guestfs/fstab_spec.h).
using Resolution = guest::Resolution;
using Resolved = guest::Resolved;

struct Entry {
  const guest::FstabEntry* e = nullptr;
  Resolved r;
  std::string mount;  // decoded, no trailing '/'
  bool skip = false;  // pseudo, network, bind, removable, a file, the resource disk
  bool swap = false;
  // A data volume: anything mounted but /, /boot, /boot/efi and swap, on a
  // data disk or a partition of the OS disk (LVs of the OS disk stay with the
  // OS; an entry that resolves to no disk: anything but the usual OS mount
  // points).
  bool data = false;
  bool checked = false;  // its side (OS or data) is included in the volume type
};

// The filesystems vhdcrypt encrypts in place: ext2, ext3, ext4, xfs.
bool IsSupportedFsType(std::string_view type);

// Resolves and classifies every fstab entry, in fstab order. Shared by the
// rules and by encrypt, so check judges exactly the volumes encrypt touches.
std::vector<Entry> Classify(const guest::Facts& facts, VolumeType volume_type);

}  // namespace vhdcrypt::rules
