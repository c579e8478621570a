#include "src/crypto/digest.h"

#include <openssl/evp.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

namespace vhdcrypt {
namespace {

// Feeds `size` bytes from read(offset, buffer) through sha256.
Result<std::string> Sha256Of(uint64_t size, const std::function<Status(uint64_t, std::span<uint8_t>)>& read) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return IoError("sha256: OpenSSL failed");
  std::vector<uint8_t> buf(4 << 20);
  for (uint64_t done = 0; done < size;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
    RETURN_IF_ERROR(read(done, std::span(buf).first(n)));
    if (EVP_DigestUpdate(ctx.get(), buf.data(), n) != 1) return IoError("sha256: OpenSSL failed");
    done += n;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) return IoError("sha256: OpenSSL failed");
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

}  // namespace

Result<std::string> Sha256File(const std::string& path, const std::atomic<bool>& stop) {
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(path));
  ASSIGN_OR_RETURN(uint64_t size, file->Size());
  return Sha256Of(size, [&](uint64_t pos, std::span<uint8_t> buf) -> Status {
    if (stop) return IoError(path + ": hashing cancelled");
    return ReadFull(*file, pos, buf);
  });
}

Result<std::string> Sha256Bytes(std::span<const uint8_t> bytes) {
  return Sha256Of(bytes.size(), [&](uint64_t pos, std::span<uint8_t> buf) -> Status {
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(pos), buf.size(), buf.begin());
    return {};
  });
}

Result<std::string> Sha256Range(Image& image, uint64_t offset, uint64_t size) {
  return Sha256Of(size, [&](uint64_t pos, std::span<uint8_t> buf) { return image.ReadAt(offset + pos, buf); });
}

}  // namespace vhdcrypt
