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
  return CopyRange(in, 0, size, out, 0, progress);
}

Result<CopyStats> CopyRange(Image& in, uint64_t source_offset, uint64_t length, ImageWriter& out, uint64_t out_offset,
                            const ProgressFn& progress) {
  if (source_offset % 512 != 0 || length % 512 != 0 || out_offset % 512 != 0 || source_offset > in.virtual_size() ||
      length > in.virtual_size() - source_offset || out_offset > out.virtual_size() ||
      length > out.virtual_size() - out_offset) {
    return UsageError("internal error: copy of " + std::to_string(length) + " bytes from " +
                      FormatOffset(source_offset) + " of " + in.path() + " to " + FormatOffset(out_offset) +
                      " does not fit");
  }
  const uint64_t range_end = source_offset + length;
  ASSIGN_OR_RETURN(auto extents, in.AllocatedExtents());
  CopyStats stats;
  std::vector<uint8_t> buf(kChunk);
  for (const Extent& e : extents) {
    if (e.end() <= source_offset || e.offset >= range_end) continue;
    // Align to 512 so writers always get whole sectors.
    uint64_t pos = std::max(e.offset / 512 * 512, source_offset);
    const uint64_t end = std::min<uint64_t>((e.end() + 511) / 512 * 512, range_end);
    while (pos < end) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk - pos % kChunk, end - pos));
      auto chunk = std::span(buf).first(n);
      RETURN_IF_ERROR(in.ReadAt(pos, chunk));
      stats.bytes_read += n;
      const uint64_t dst = pos - source_offset + out_offset;
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
        RETURN_IF_ERROR(out.Write(dst + i, chunk.subspan(i, j - i)));
        stats.bytes_written += j - i;
        i = j;
      }
      pos += n;
      if (progress) progress(pos - source_offset, length);
    }
  }
  if (progress) progress(length, length);
  return stats;
}

}  // namespace vhdcrypt
