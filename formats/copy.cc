#include "formats/copy.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace vhdcrypt {
namespace {

constexpr size_t kChunk = 4 * 1024 * 1024;
// Zero detection granularity: small enough to punch holes in raw output at
// filesystem-block size, large enough to keep the write calls few.
constexpr size_t kZeroGrain = 64 * 1024;

}  // namespace

bool IsZero(std::span<const uint8_t> data) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (w != 0) return false;
    p += 8;
    n -= 8;
  }
  while (n-- > 0) {
    if (*p++ != 0) return false;
  }
  return true;
}

Result<CopyStats> CopyImage(Image& in, ImageWriter& out, const ProgressFn& progress) {
  const uint64_t size = in.virtual_size();
  if (out.virtual_size() < size) {
    return UsageError("output disk (" + std::to_string(out.virtual_size()) + " bytes) is smaller than input " +
                      in.path() + " (" + std::to_string(size) + " bytes)");
  }
  ASSIGN_OR_RETURN(auto extents, in.AllocatedExtents());
  CopyStats stats;
  std::vector<uint8_t> buf(kChunk);
  for (const Extent& e : extents) {
    // Align to 512 so writers always get whole sectors.
    uint64_t pos = e.offset / 512 * 512;
    const uint64_t end = std::min<uint64_t>((e.end() + 511) / 512 * 512, size);
    while (pos < end) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk - pos % kChunk, end - pos));
      auto chunk = std::span(buf).first(n);
      RETURN_IF_ERROR(in.ReadAt(pos, chunk));
      stats.bytes_read += n;
      // Hand over maximal runs of non-zero grains.
      size_t i = 0;
      while (i < n) {
        size_t g = std::min(kZeroGrain, n - i);
        if (IsZero(chunk.subspan(i, g))) {
          i += g;
          continue;
        }
        size_t j = i + g;
        while (j < n) {
          size_t h = std::min(kZeroGrain, n - j);
          if (IsZero(chunk.subspan(j, h))) break;
          j += h;
        }
        RETURN_IF_ERROR(out.Write(pos + i, chunk.subspan(i, j - i)));
        stats.bytes_written += j - i;
        i = j;
      }
      pos += n;
      if (progress) progress(pos, size);
    }
  }
  if (progress) progress(size, size);
  return stats;
}

}  // namespace vhdcrypt
