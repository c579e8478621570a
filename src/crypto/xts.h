// aes-xts-plain64 exactly as dm-crypt computes it for LUKS2. The volume is cut
// into encryption sectors of sector_size bytes (512 or 4096); each is one XTS
// data unit whose tweak is plain64: the little-endian 64-bit number of its
// first 512-byte sector counted from the start of the data segment. So with
// 4096-byte sectors the tweaks go 0, 8, 16, ... (LUKS2 does not set dm-crypt's
// iv_large_sectors). One XtsCipher per thread: it owns its EVP context, keyed
// once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "base/result.h"

struct evp_cipher_ctx_st;

namespace vhdcrypt {

enum class Direction { kEncrypt, kDecrypt };

class XtsCipher {
 public:
  // key: 64 bytes (AES-256-XTS) or 32 (AES-128-XTS); its halves must differ
  // (OpenSSL refuses equal halves, as IEEE 1619 requires). sector_size: 512
  // or 4096.
  static Result<XtsCipher> Create(std::span<const uint8_t> key, uint32_t sector_size, Direction direction);
  ~XtsCipher();
  XtsCipher(XtsCipher&& other) noexcept;
  XtsCipher& operator=(XtsCipher&& other) noexcept;
  XtsCipher(const XtsCipher&) = delete;
  XtsCipher& operator=(const XtsCipher&) = delete;

  uint32_t sector_size() const { return sector_size_; }
  // Transforms data in place. data.size() is a multiple of sector_size;
  // first_sector512 (in 512-byte units from the data segment start) is a
  // multiple of sector_size / 512.
  Status Apply(uint64_t first_sector512, std::span<uint8_t> data);

 private:
  XtsCipher(evp_cipher_ctx_st* ctx, uint32_t sector_size) : ctx_(ctx), sector_size_(sector_size) {}
  evp_cipher_ctx_st* ctx_ = nullptr;
  uint32_t sector_size_ = 512;
};

}  // namespace vhdcrypt
