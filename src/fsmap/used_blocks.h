// Which bytes of a volume its filesystem uses: every data block and every
// metadata block (superblocks and their backups, group descriptors, bitmaps,
// inode tables, the journal). Read from the filesystem's own allocation maps,
// through formats/, so the volume may sit in any container at any offset; no
// mounting, no libguestfs.
//
// The volume is untrusted: every size the filesystem claims is checked
// against the volume before it is used, so the work is bounded by the volume
// (a bitmap per group), and a filesystem that is not clean or cannot be mapped
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
// filesystem vhdcrypt can map (XFS is not mapped yet), a filesystem larger
// than its volume, one not cleanly unmounted, with its errors flag set or its
// journal needing recovery, bigalloc, and any metadata libext2fs rejects.
Result<UsedBlocks> MapUsedBlocks(Image& disk, uint64_t offset, uint64_t size, std::string_view name);

}  // namespace vhdcrypt
