#include "src/crypto/decrypting_image.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

namespace vhdcrypt {
namespace {

constexpr uint64_t kScratchBytes = 1024 * 1024;  // read and decrypted at a time for unaligned reads

}  // namespace

DecryptingImage::DecryptingImage(Image& encrypted, uint64_t offset, uint64_t size, XtsCipher cipher)
    : encrypted_(encrypted),
      offset_(offset),
      size_(size),
      path_(encrypted.path() + " (decrypted at " + FormatOffset(offset) + ")"),
      cipher_(std::move(cipher)) {}

Result<std::unique_ptr<DecryptingImage>> DecryptingImage::Open(Image& encrypted, uint64_t offset, uint64_t size,
                                                               std::span<const uint8_t> key, uint32_t sector_size) {
  ASSIGN_OR_RETURN(XtsCipher cipher, XtsCipher::Create(key, sector_size, Direction::kDecrypt));
  if (offset % 512 != 0 || size % sector_size != 0) {
    return UsageError("data segment of " + std::to_string(size) + " bytes at " + FormatOffset(offset) + " in " +
                      encrypted.path() + " is not whole " + std::to_string(sector_size) + "-byte sectors");
  }
  RETURN_IF_ERROR(CheckVirtualRange(encrypted.path(), encrypted.virtual_size(), offset, size));
  return std::unique_ptr<DecryptingImage>(new DecryptingImage(encrypted, offset, size, std::move(cipher)));
}

Status DecryptingImage::ReadAt(uint64_t offset, std::span<uint8_t> buf) {
  RETURN_IF_ERROR(CheckVirtualRange(path_, size_, offset, buf.size()));
  const uint64_t sector = cipher_.sector_size();
  std::lock_guard lock(mu_);
  // Aligned reads go straight into the caller's buffer.
  if (offset % sector == 0 && buf.size() % sector == 0) {
    RETURN_IF_ERROR(encrypted_.ReadAt(offset_ + offset, buf));
    return cipher_.Apply(offset / 512, buf);
  }
  const uint64_t end = offset + buf.size();
  const uint64_t aligned_end = std::min<uint64_t>((end + sector - 1) / sector * sector, size_);
  std::vector<uint8_t> scratch(
      static_cast<size_t>(std::min<uint64_t>(aligned_end - offset / sector * sector, kScratchBytes)));
  Status status;
  for (uint64_t at = offset; status.ok() && at < end;) {
    const uint64_t first = at / sector * sector;
    const std::span<uint8_t> chunk =
        std::span(scratch).first(static_cast<size_t>(std::min<uint64_t>(aligned_end - first, scratch.size())));
    status = encrypted_.ReadAt(offset_ + first, chunk);
    if (status.ok()) status = cipher_.Apply(first / 512, chunk);
    if (status.ok()) {
      const uint64_t n = std::min<uint64_t>(first + chunk.size(), end) - at;
      std::memcpy(buf.data() + (at - offset), chunk.data() + (at - first), static_cast<size_t>(n));
      at += n;
    }
  }
  OPENSSL_cleanse(scratch.data(), scratch.size());
  return status;
}

Result<std::vector<Extent>> DecryptingImage::AllocatedExtents() { return std::vector<Extent>{{0, size_}}; }

}  // namespace vhdcrypt
