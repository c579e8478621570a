// Writers of virtual disks into a container. Writes may arrive in any order;
// regions never written read back as zeros and, where the container allows,
// stay unallocated (holes in raw and fixed VHD, absent blocks in dynamic VHD).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "base/result.h"
#include "formats/image.h"
#include "formats/io.h"

namespace vhdcrypt {

class ImageWriter {
 public:
  virtual ~ImageWriter() = default;
  virtual uint64_t virtual_size() const = 0;
  // offset and data.size() are multiples of 512 and lie inside the disk.
  virtual Status Write(uint64_t offset, std::span<const uint8_t> data) = 0;
  // Writes trailing metadata (footers, BAT). Does not sync.
  virtual Status Finish() = 0;
};

struct WriterOptions {
  // VHD footer timestamp, seconds since 2000-01-01 UTC; unique_id. Callers
  // pass fixed values for reproducible output.
  uint32_t timestamp = 0;
  std::array<uint8_t, 16> unique_id{};
  uint32_t block_size = 2 * 1024 * 1024;  // dynamic VHD
};

// The virtual size a container will hold for a requested size: fixed VHDs are
// rounded up to a whole MiB (Azure's rule); the others keep the size.
uint64_t ContainerVirtualSize(ContainerKind kind, uint64_t requested);

// `out` must be empty and outlive the writer. virtual_size is a multiple of 512
// and, for fixed VHD, a multiple of 1 MiB (see ContainerVirtualSize).
Result<std::unique_ptr<ImageWriter>> MakeWriter(ContainerKind kind, File& out, uint64_t virtual_size,
                                                const WriterOptions& options);

// Fills options.timestamp from SOURCE_DATE_EPOCH or the clock, and unique_id
// from the kernel's random source.
Result<WriterOptions> DefaultWriterOptions();

}  // namespace vhdcrypt
