// Which bytes of a volume its filesystem uses: every data block and every
// metadata block (ext: superblocks and their backups, group descriptors,
// bitmaps, inode tables, the journal; XFS: AG headers, b-trees, inodes, the
// log). Read from the filesystem's own allocation maps, through formats/, so
// the volume may sit in any container at any offset; no mounting, no
// libguestfs.
//
// The volume is untrusted: every size the filesystem claims is checked
// against the volume before it is used, so the work is bounded by the volume
// (a bitmap per ext group, a b-tree per XFS AG), and a filesystem that is not clean or cannot be mapped
// is refused with kInvalidInput naming the volume and the reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "formats/image.h"

namespace vhdcrypt {

struct UsedBlocks {
  uint32_t block_size = 0;   // the filesystem's allocation unit, bytes
  uint64_t fs_bytes = 0;     // bytes the filesystem spans from the volume's start
  std::vector<Extent> used;  // byte ranges from the volume's start: sorted, disjoint, not adjacent
  uint64_t used_bytes = 0;   // their total
};

// Maps the filesystem at [offset, offset + size) of `disk`. `name` says which
// volume in messages ("data.vhd partition 2"). Refused (kInvalidInput): no
// ext2/3/4 or XFS filesystem, a filesystem larger than its volume, one not
// cleanly unmounted (ext: not clean, errors flag, journal to recover; XFS: a
// log that does not end in an unmount record), ext4 bigalloc, XFS with a
// realtime section or an external log, and any metadata that does not hold
// together (libext2fs' and e2fsck's checks; XFS: every field used).
Result<UsedBlocks> MapUsedBlocks(Image& disk, uint64_t offset, uint64_t size, std::string_view name);

}  // namespace vhdcrypt
