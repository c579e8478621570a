// Fuzzes the VHD container parser: open (all metadata checks), allocated
// extents, and reads at the start, the end and a few inner offsets.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vhdcrypt;
  auto img =
      OpenImage(std::make_unique<MemFile>("fuzz.vhd", std::vector<uint8_t>(data, data + size)), FormatHint::kVhd);
  if (!img.ok()) return 0;
  Image& image = **img;
  auto extents = image.AllocatedExtents();
  std::vector<uint8_t> buf(64 * 1024);
  const uint64_t vsize = image.virtual_size();
  for (uint64_t at : {uint64_t{0}, vsize / 3, vsize / 2, vsize > buf.size() ? vsize - buf.size() : 0}) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), vsize - at));
    (void)image.ReadAt(at, std::span(buf).first(n));
  }
  if (extents.ok()) {
    for (size_t i = 0; i < extents->size() && i < 8; ++i) {
      const auto& e = (*extents)[i];
      const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), e.length));
      (void)image.ReadAt(e.offset, std::span(buf).first(n));
    }
  }
  return 0;
}
