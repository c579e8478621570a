// Reads just enough of a filesystem's superblock, through formats/, to pick
// the encryption sector size. No mounting, no libguestfs: a few bytes of the
// source image.
//
// dm-crypt with 4096-byte sectors makes the device's logical block size 4096,
// and a filesystem that issues smaller I/O then fails to mount: XFS made on a
// 512-byte-sector disk (sb_sectsize 512, the default for image files) is such
// a filesystem, ext4 with 4096-byte blocks is not.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "formats/image.h"

namespace vhdcrypt {

struct FsProbe {
  std::string type;       // "ext2", "ext3", "ext4", "xfs", or "" (not recognised)
  std::string uuid;       // as blkid prints it: lowercase, dashed, in stored byte order
  uint32_t min_io = 512;  // smallest I/O the filesystem issues: ext block size, XFS sector size
};

// Reads the superblock of the filesystem at [offset, offset + size) of `disk`.
Result<FsProbe> ProbeFilesystem(Image& disk, uint64_t offset, uint64_t size);

// 4096 when the filesystem never does smaller I/O and the volume is a whole
// number of 4096-byte sectors, else 512.
uint32_t ChooseSectorSize(const FsProbe& fs, uint64_t volume_size);

}  // namespace vhdcrypt
