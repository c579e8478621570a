// The folder's own: the mappers behind MapUsedBlocks, one per filesystem.
#pragma once

#include "src/fsmap/used_blocks.h"

namespace vhdcrypt::fsmap_internal {

// ext2/3/4 through libext2fs. `sb` is the 1024-byte superblock read from
// byte 1024 of the volume.
Result<UsedBlocks> MapExt(Image& disk, uint64_t offset, uint64_t size, std::string_view name, const uint8_t* sb);

// XFS v4 and v5, by our own reader of its allocation groups.
Result<UsedBlocks> MapXfs(Image& disk, uint64_t offset, uint64_t size, std::string_view name);

// Appends [offset, offset + length) to map.used, merged with the last run
// when they touch; runs must come in ascending order.
inline void AddRun(UsedBlocks& map, uint64_t offset, uint64_t length) {
  if (!map.used.empty() && map.used.back().end() == offset) {
    map.used.back().length += length;
  } else {
    map.used.push_back({offset, length});
  }
  map.used_bytes += length;
}

}  // namespace vhdcrypt::fsmap_internal
