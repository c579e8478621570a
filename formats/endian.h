// Endian-explicit integer fields, so on-disk structs are declared exactly as
// laid out: VHD is big-endian (ub32), MBR and GPT are little-endian (ul32).
// Each type is a byte array: alignment 1, no padding, any host endianness.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vhdcrypt {

template <typename T, bool kBig>
class EndianInt {
 public:
  EndianInt() = default;
  EndianInt(T v) { Set(v); }            // NOLINT: implicit by design
  operator T() const { return Get(); }  // NOLINT
  EndianInt& operator=(T v) {
    Set(v);
    return *this;
  }

  T Get() const {
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      size_t shift = kBig ? 8 * (sizeof(T) - 1 - i) : 8 * i;
      v |= static_cast<T>(static_cast<T>(b_[i]) << shift);
    }
    return v;
  }
  void Set(T v) {
    for (size_t i = 0; i < sizeof(T); ++i) {
      size_t shift = kBig ? 8 * (sizeof(T) - 1 - i) : 8 * i;
      b_[i] = static_cast<uint8_t>(v >> shift);
    }
  }

 private:
  uint8_t b_[sizeof(T)] = {};
};

using ub16 = EndianInt<uint16_t, true>;
using ub32 = EndianInt<uint32_t, true>;
using ub64 = EndianInt<uint64_t, true>;
using ul16 = EndianInt<uint16_t, false>;
using ul32 = EndianInt<uint32_t, false>;
using ul64 = EndianInt<uint64_t, false>;

static_assert(sizeof(ub64) == 8 && alignof(ub64) == 1);
static_assert(sizeof(ul32) == 4 && alignof(ul32) == 1);

// The value of an endian field E (ul32, ub16, ...) stored at p, which need
// not be aligned: for parsers reading fields at offsets from raw bytes.
template <typename E>
auto LoadField(const uint8_t* p) {
  E v;
  std::memcpy(&v, p, sizeof(v));
  return v.Get();
}

}  // namespace vhdcrypt
