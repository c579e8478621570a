// The folder's own: the ext2/3/4 mapper behind MapUsedBlocks.
#pragma once

#include "src/fsmap/used_blocks.h"

namespace vhdcrypt::fsmap_internal {

// `sb` is the 1024-byte superblock read from byte 1024 of the volume.
Result<UsedBlocks> MapExt(Image& disk, uint64_t offset, uint64_t size, std::string_view name, const uint8_t* sb);

}  // namespace vhdcrypt::fsmap_internal
