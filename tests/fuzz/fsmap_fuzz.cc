// Fuzzes the used-block map. The first byte picks how the rest lies in the
// volume (zeros everywhere else):
//   even: at the start of a 1 MiB volume (a small ext filesystem's metadata
//         sits in its first blocks: seeds are the heads of mke2fs images);
//   odd:  in pieces of 16 KiB at the start of each 16 MiB of a 64 MiB volume
//         (an XFS of four 16 MiB allocation groups keeps its AG headers,
//         free-space b-tree roots and its log's head there: seeds are those
//         pieces of a mkfs.xfs image).
// Any result is fine; a crash, a leak or a read outside the volume is not.
// The map, when there is one, must lie inside the volume, sorted and disjoint.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "formats/image.h"
#include "src/fsmap/used_blocks.h"

namespace {

using namespace vhdcrypt;

// A volume of zeros but for some pieces: no 64 MiB allocated per input.
class PiecesImage : public Image {
 public:
  PiecesImage(uint64_t size, std::vector<std::pair<uint64_t, std::vector<uint8_t>>> pieces)
      : size_(size), pieces_(std::move(pieces)) {}
  const std::string& path() const override { return path_; }
  ContainerKind kind() const override { return ContainerKind::kRaw; }
  uint64_t virtual_size() const override { return size_; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) override {
    if (offset > size_ || buf.size() > size_ - offset) std::abort();  // the map must check first
    std::fill(buf.begin(), buf.end(), 0);
    for (const auto& [at, bytes] : pieces_) {
      const uint64_t from = std::max(at, offset), to = std::min(at + bytes.size(), offset + buf.size());
      if (from < to) std::copy_n(bytes.begin() + (from - at), to - from, buf.begin() + (from - offset));
    }
    return {};
  }
  Result<std::vector<Extent>> AllocatedExtents() override { return std::vector<Extent>{{0, size_}}; }

 private:
  uint64_t size_;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> pieces_;
  std::string path_ = "fuzz.img";
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool spread = data[0] & 1;
  ++data;
  --size;
  const uint64_t volume = spread ? uint64_t{64} << 20 : uint64_t{1} << 20;
  const size_t piece = spread ? 16 << 10 : 1 << 20;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> pieces;
  for (size_t k = 0; k * piece < size && k < 4; ++k) {
    const size_t n = std::min(piece, size - k * piece);
    pieces.emplace_back(k * (spread ? 16 << 20 : 0), std::vector<uint8_t>(data + k * piece, data + k * piece + n));
  }
  PiecesImage img(volume, std::move(pieces));
  auto map = MapUsedBlocks(img, 0, volume, "fuzz.img");
  if (!map.ok()) return 0;
  uint64_t end = 0, total = 0;
  for (const Extent& e : map->used) {
    if (e.length == 0 || e.offset < end || e.end() > volume) std::abort();
    end = e.end();
    total += e.length;
  }
  if (total != map->used_bytes) std::abort();
  return 0;
}
