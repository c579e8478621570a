// sha256 of files and of ranges of virtual disks (OpenSSL EVP), as lowercase hex.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"
#include "formats/image.h"

namespace vhdcrypt {

// The file's bytes as stored (the container, not the virtual disk). Stops
// with an error when `stop` becomes true.
Result<std::string> Sha256File(const std::string& path, const std::atomic<bool>& stop);

// Bytes in memory.
Result<std::string> Sha256Bytes(std::span<const uint8_t> bytes);

// [offset, offset + size) of the virtual disk.
Result<std::string> Sha256Range(Image& image, uint64_t offset, uint64_t size);

}  // namespace vhdcrypt
