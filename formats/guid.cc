#include "formats/guid.h"

#include <cstdio>
#include <cstdlib>
#include <random>

namespace vhdcrypt {
namespace {

// Text position of each on-disk byte: the first three fields are reversed.
constexpr int kTextOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool Guid::IsZero() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::string Guid::ToString() const {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    const uint8_t b = bytes[kTextOrder[i]];
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

Result<Guid> ParseGuid(std::string_view text) {
  auto bad = [&] {
    return UsageError("invalid GUID \"" + std::string(text.substr(0, 64)) +
                      "\" (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
  };
  if (text.size() != 36) return bad();
  Guid g;
  size_t pos = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      if (text[pos] != '-') return bad();
      ++pos;
    }
    const int hi = HexValue(text[pos]), lo = HexValue(text[pos + 1]);
    if (hi < 0 || lo < 0) return bad();
    g.bytes[kTextOrder[i]] = static_cast<uint8_t>(hi << 4 | lo);
    pos += 2;
  }
  return g;
}

Guid GuidFromText(std::string_view text) {
  auto g = ParseGuid(text);
  if (!g.ok()) {
    std::fprintf(stderr, "internal error: %s\n", g.error().message().c_str());
    std::abort();
  }
  return *g;
}

Guid RandomGuid() {
  std::random_device rd;
  Guid g;
  for (size_t i = 0; i < 16; i += 4) {
    const uint32_t r = rd();
    for (size_t j = 0; j < 4; ++j) g.bytes[i + j] = static_cast<uint8_t>(r >> (8 * j));
  }
  // RFC 4122: version 4 in the high nibble of time_hi (on-disk byte 7, the
  // field is little-endian), variant 10 in the top bits of byte 8.
  g.bytes[7] = static_cast<uint8_t>((g.bytes[7] & 0x0F) | 0x40);
  g.bytes[8] = static_cast<uint8_t>((g.bytes[8] & 0x3F) | 0x80);
  return g;
}

}  // namespace vhdcrypt
