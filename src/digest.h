// sha256 of files and of ranges of virtual disks (OpenSSL EVP), as lowercase hex.
#pragma once

#include <openssl/evp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/image.h"
#include "formats/io.h"
#include "formats/result.h"

namespace vhdcrypt {

// The file's bytes as stored (the container, not the virtual disk). Stops
// with an error when `stop` becomes true.
Result<std::string> Sha256File(const std::string& path, const std::atomic<bool>& stop);

// [offset, offset + size) of the virtual disk.
Result<std::string> Sha256Range(Image& image, uint64_t offset, uint64_t size);

// The sha256 of a file whose bytes someone else reads anyway, in order (the
// engine, reading a raw input): Feed takes what they read, and the digest
// reads only the parts it was not fed (before each fed range, and the rest
// of the file in Finish). Bytes fed at or behind the digest's position are
// skipped, so a caller may feed overlapping or repeated ranges; what it
// feeds must be the file's bytes at those offsets. Not thread-safe: one
// caller at a time.
class FileDigest {
 public:
  static Result<std::unique_ptr<FileDigest>> Open(const std::string& path);

  Status Feed(uint64_t offset, std::span<const uint8_t> data);
  // Reads what is left, then returns the lowercase hex digest. Stops with an
  // error when `stop` becomes true.
  Result<std::string> Finish(const std::atomic<bool>& stop);

 private:
  FileDigest(std::unique_ptr<File> file, uint64_t size);
  Status Update(std::span<const uint8_t> data);
  // Hashes the file's bytes from the position up to `end`.
  Status ReadUpTo(uint64_t end, const std::atomic<bool>* stop);

  std::unique_ptr<File> file_;
  uint64_t size_;
  uint64_t pos_ = 0;  // bytes [0, pos_) are hashed
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
  std::vector<uint8_t> buf_;  // for the parts read here
};

}  // namespace vhdcrypt
