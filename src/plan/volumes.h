// Which filesystems `encrypt` turns into LUKS2 data volumes. With an OS: the
// data volumes of /etc/fstab as the check rules classify them (so check
// judges exactly what encrypt touches). Without an OS (a data disk given on
// its own): every ext2/3/4 and XFS filesystem on every disk.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "guestfs/facts.h"

namespace vhdcrypt {

struct DataVolumeChoice {
  const guest::Filesystem* fs = nullptr;
  const guest::FstabEntry* fstab = nullptr;  // nullptr without an OS
  std::string mountpoint;                    // "" without an OS
};

struct VolumeSelection {
  std::vector<DataVolumeChoice> volumes;  // by disk, then partition
  std::vector<std::string> skipped;       // why a mounted filesystem is left plaintext, for warnings
};

// Refuses (kInvalidInput) data volumes vhdcrypt cannot yet encrypt in place:
// LVM logical volumes (the physical volume would have to move).
Result<VolumeSelection> SelectDataVolumes(const guest::Facts& facts);

}  // namespace vhdcrypt
