// The bulk engine: moves one volume from a source image to an output image
// through AES-XTS, in parallel, in bounded memory. One reader thread reads
// chunks in order, `threads` workers each own an XtsCipher, and the calling
// thread writes finished chunks in order (so writers see sequential writes).
// At most 2 * threads + 2 chunks exist at once, whatever the volume size.
// The output is the same for any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "formats/writer.h"
#include "src/crypto/xts.h"

namespace vhdcrypt {

struct EngineOptions {
  unsigned threads = 0;              // 0: std::thread::hardware_concurrency(); at most 256
  size_t chunk_bytes = 1024 * 1024;  // multiple of 4096, at most 256 MiB
};

struct VolumeJob {
  Image* source = nullptr;
  uint64_t source_offset = 0;  // byte offset of the volume in the source (multiple of 512)
  uint64_t length = 0;         // bytes; multiple of sector_size
  ImageWriter* out = nullptr;
  uint64_t out_offset = 0;  // byte offset of the data segment in the output (multiple of 512)
  std::span<const uint8_t> key;
  uint32_t sector_size = 512;
  Direction direction = Direction::kEncrypt;
  // Only these byte ranges of the volume (from its start: sorted, disjoint,
  // whole sectors) are read, transformed and written; the rest is never
  // touched. nullptr: the whole volume.
  const std::vector<Extent>* only = nullptr;
  // Re-encryption: when not empty, each sector is first decrypted with this
  // key (same sector size, same tweak) and then encrypted with `key`, in the
  // same worker, so the plaintext lives only in the chunk buffer. Only with
  // Direction::kEncrypt.
  std::span<const uint8_t> source_key;
};

// Called on the calling thread after each chunk is written: (bytes done, bytes
// in all), where all is job.length, or the bytes of job.only.
using EngineProgress = std::function<void(uint64_t, uint64_t)>;

// Every sector of the volume is transformed and written, zeros included, so
// the output reveals nothing of which blocks the filesystem used; with
// job.only, only its ranges (the caller says which blocks are in use). The tweak of
// each sector counts from the start of the volume, whatever source_offset and
// out_offset are. A job that does not fit (misaligned, out of range, bad key)
// is refused with kUsage before anything is read. The first error after that
// (read, cipher, write) stops all threads and is returned; chunks after the
// failing one are never written.
Status RunVolumeJob(const VolumeJob& job, const EngineOptions& options, const EngineProgress& progress = {});

}  // namespace vhdcrypt
