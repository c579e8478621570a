#include "src/fsmap/used_blocks.h"

#include <array>
#include <cstring>

#include "formats/endian.h"
#include "src/fsmap/mappers.h"

namespace vhdcrypt {

Result<UsedBlocks> MapUsedBlocks(Image& disk, uint64_t offset, uint64_t size, std::string_view name) {
  const std::string who(name);
  std::array<uint8_t, 2048> head{};
  if (size < head.size()) return InvalidInput(who + ": too small to hold a filesystem");
  RETURN_IF_ERROR(CheckVirtualRange(disk.path(), disk.virtual_size(), offset, size));
  RETURN_IF_ERROR(disk.ReadAt(offset, head));
  if (std::memcmp(head.data(), "XFSB", 4) == 0) {
    return fsmap_internal::MapXfs(disk, offset, size, who);
  }
  const uint8_t* sb = head.data() + 1024;
  if (LoadField<ul16>(sb + 56) == 0xEF53) return fsmap_internal::MapExt(disk, offset, size, who, sb);
  return InvalidInput(who + ": no ext2/3/4 or XFS filesystem found (its used blocks cannot be mapped)");
}

}  // namespace vhdcrypt
