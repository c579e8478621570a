#include "src/crypto/xts.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <string>
#include <utility>

namespace vhdcrypt {
namespace {

constexpr size_t kTweakBytes = 16;

// OpenSSL's reason for the last failure on this thread, and an empty queue
// afterwards. Reason strings never hold key material.
std::string OpensslReason() {
  unsigned long code = ERR_peek_last_error();
  std::string reason = "unknown OpenSSL error";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    reason = buf;
  }
  ERR_clear_error();
  return reason;
}

}  // namespace

Result<XtsCipher> XtsCipher::Create(std::span<const uint8_t> key, uint32_t sector_size, Direction direction) {
  const EVP_CIPHER* cipher = nullptr;
  if (key.size() == 64) {
    cipher = EVP_aes_256_xts();
  } else if (key.size() == 32) {
    cipher = EVP_aes_128_xts();
  } else {
    return UsageError("AES-XTS key is " + std::to_string(key.size()) +
                      " bytes; expected 64 (AES-256-XTS) or 32 (AES-128-XTS)");
  }
  if (sector_size != 512 && sector_size != 4096) {
    return UsageError("encryption sector size " + std::to_string(sector_size) + " is not 512 or 4096");
  }
  const size_t half = key.size() / 2;
  if (CRYPTO_memcmp(key.data(), key.data() + half, half) == 0) {
    // XTS with key1 == key2 loses its security proof (IEEE 1619-2018 5.1).
    return UsageError("AES-XTS key halves are equal; the two halves must differ");
  }
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return IoError("cannot allocate an OpenSSL cipher context: " + OpensslReason());
  const int enc = direction == Direction::kEncrypt ? 1 : 0;
  if (EVP_CipherInit_ex2(ctx, cipher, key.data(), nullptr, enc, nullptr) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return IoError("cannot set up AES-XTS: " + OpensslReason());
  }
  return XtsCipher(ctx, sector_size);
}

XtsCipher::~XtsCipher() { EVP_CIPHER_CTX_free(ctx_); }  // frees and cleanses the key schedule

XtsCipher::XtsCipher(XtsCipher&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)), sector_size_(other.sector_size_) {}

XtsCipher& XtsCipher::operator=(XtsCipher&& other) noexcept {
  if (this != &other) {
    EVP_CIPHER_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    sector_size_ = other.sector_size_;
  }
  return *this;
}

Status XtsCipher::Apply(uint64_t first_sector512, std::span<uint8_t> data) {
  if (ctx_ == nullptr) return UsageError("AES-XTS cipher used after it was moved from");
  if (data.size() % sector_size_ != 0) {
    return UsageError("AES-XTS input of " + std::to_string(data.size()) + " bytes is not a whole number of " +
                      std::to_string(sector_size_) + "-byte sectors");
  }
  const uint64_t step = sector_size_ / 512;
  if (first_sector512 % step != 0) {
    return UsageError("AES-XTS start sector " + std::to_string(first_sector512) +
                      " (512-byte units) is not aligned to " + std::to_string(sector_size_) + "-byte sectors");
  }
  const int len = static_cast<int>(sector_size_);
  uint8_t iv[kTweakBytes] = {};  // plain64: bytes 8..15 stay zero
  uint64_t sector = first_sector512;
  for (size_t pos = 0; pos < data.size(); pos += sector_size_, sector += step) {
    for (int i = 0; i < 8; ++i) iv[i] = static_cast<uint8_t>(sector >> (8 * i));
    uint8_t* p = data.data() + pos;
    int out_len = 0;
    // Only the IV changes: the key schedules set up in Create stay.
    if (EVP_CipherInit_ex2(ctx_, nullptr, nullptr, iv, -1, nullptr) != 1 ||
        EVP_CipherUpdate(ctx_, p, &out_len, p, len) != 1 || out_len != len) {
      return IoError("AES-XTS failed at sector " + std::to_string(sector) + ": " + OpensslReason());
    }
  }
  return {};
}

}  // namespace vhdcrypt
