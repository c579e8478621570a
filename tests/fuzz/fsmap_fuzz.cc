// Fuzzes the used-block map: the input is the start of a volume, zeros follow
// up to 1 MiB (a small ext filesystem's metadata sits in its first blocks, so
// a seed is the head of one made by mke2fs). Any result is fine; a crash, a
// leak or a read outside the volume is not. The map, when there is one, must
// lie inside the volume, sorted and disjoint.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "formats/image.h"
#include "src/fsmap/used_blocks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vhdcrypt;
  constexpr size_t kVolume = 1 << 20;
  if (size > kVolume) return 0;
  std::vector<uint8_t> bytes(kVolume, 0);
  std::copy(data, data + size, bytes.begin());
  auto img = OpenImage(std::make_unique<MemFile>("fuzz.img", std::move(bytes)), FormatHint::kRaw);
  if (!img.ok()) return 0;
  auto map = MapUsedBlocks(**img, 0, kVolume, "fuzz.img");
  if (!map.ok()) return 0;
  uint64_t end = 0, total = 0;
  for (const Extent& e : map->used) {
    if (e.length == 0 || e.offset < end || e.end() > kVolume) std::abort();
    end = e.end();
    total += e.length;
  }
  if (total != map->used_bytes) std::abort();
  return 0;
}
