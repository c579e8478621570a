// GUIDs as GPT stores them. The on-disk byte order is mixed-endian: the first
// three fields (4, 2 and 2 bytes) are little-endian, the last 8 bytes are in
// text order. So the text "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" is stored as
// 28 73 2A C1 1F F8 D2 11 BA 4B 00 A0 C9 3E C9 3B.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace vhdcrypt {

struct Guid {
  std::array<uint8_t, 16> bytes{};  // on-disk order

  bool IsZero() const;
  // Uppercase canonical text, as sfdisk and gdisk print it.
  std::string ToString() const;
  bool operator==(const Guid&) const = default;
};

// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (either case). Errors are
// kUsage: GUIDs come from the command line or from code, not from images.
Result<Guid> ParseGuid(std::string_view text);

// For compile-time constants known to be well formed; aborts otherwise.
Guid GuidFromText(std::string_view text);

// A version 4 (random) GUID from std::random_device (getrandom on Linux).
Guid RandomGuid();

}  // namespace vhdcrypt
