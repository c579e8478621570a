// Streaming copy of a virtual disk into a writer, skipping what the source
// reports unallocated and any all-zero run, so sparseness survives.
#pragma once

#include <cstdint>
#include <functional>

#include "formats/image.h"
#include "formats/writer.h"

namespace vhdcrypt {

struct CopyStats {
  uint64_t bytes_read = 0;     // allocated source bytes read
  uint64_t bytes_written = 0;  // non-zero bytes handed to the writer
};

// Called after each chunk with (virtual bytes done, virtual size).
using ProgressFn = std::function<void(uint64_t, uint64_t)>;

// Copies in.virtual_size() bytes; out.virtual_size() may be larger (padding
// stays zero). Does not call out.Finish().
Result<CopyStats> CopyImage(Image& in, ImageWriter& out, const ProgressFn& progress = {});

// Copies [source_offset, source_offset + length) of `in` to out_offset of
// `out`, with the same skipping. Offsets and length are multiples of 512.
// progress gets (bytes of the range done, length).
Result<CopyStats> CopyRange(Image& in, uint64_t source_offset, uint64_t length, ImageWriter& out, uint64_t out_offset,
                            const ProgressFn& progress = {});

// True when every byte is zero.
bool IsZero(std::span<const uint8_t> data);

}  // namespace vhdcrypt
