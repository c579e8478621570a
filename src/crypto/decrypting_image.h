// A LUKS data segment seen through its volume key: an Image whose bytes are
// the plaintext of [offset, offset + size) of an encrypted image, decrypted
// sector by sector on read (aes-xts-plain64 as dm-crypt, src/crypto/xts.h).
// Readers of filesystems (the used-block map, the superblock probe) run on it
// as on a plaintext volume, so an encrypted output can be mapped, checked and
// decrypted in proportion to its used blocks, without writing plaintext
// anywhere. Reads need not be aligned; whole sectors are read and decrypted
// around them, and the scratch buffer is wiped after each read.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "src/crypto/xts.h"

namespace vhdcrypt {

class DecryptingImage : public Image {
 public:
  // `encrypted` must outlive the view. offset: a multiple of 512; size: whole
  // sectors, inside `encrypted`. The key is used only to key the cipher.
  static Result<std::unique_ptr<DecryptingImage>> Open(Image& encrypted, uint64_t offset, uint64_t size,
                                                       std::span<const uint8_t> key, uint32_t sector_size);

  const std::string& path() const override { return path_; }
  ContainerKind kind() const override { return ContainerKind::kRaw; }
  uint64_t virtual_size() const override { return size_; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) override;
  // Everything: unwritten ciphertext decrypts to noise, not to zeros.
  Result<std::vector<Extent>> AllocatedExtents() override;

 private:
  DecryptingImage(Image& encrypted, uint64_t offset, uint64_t size, XtsCipher cipher);

  Image& encrypted_;
  uint64_t offset_;
  uint64_t size_;
  std::string path_;
  std::mutex mu_;  // the cipher's context is not shared between threads
  XtsCipher cipher_;
};

}  // namespace vhdcrypt
