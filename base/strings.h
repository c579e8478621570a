// String helpers shared by every layer. std only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vhdcrypt {

// ASCII lower case; other bytes are left as they are.
std::string Lower(std::string s);

// Without leading and trailing blanks (space, tab, CR, LF).
std::string Trim(std::string_view s);

// The largest binary unit that keeps the number at 1 or more, two decimals:
// "512 B", "1.50 KiB", "12.25 MiB", "1.00 GiB".
std::string BinaryUnits(uint64_t bytes);

// "512 B", or the exact count and BinaryUnits: "1073741824 (1.00 GiB)".
std::string HumanBytes(uint64_t bytes);

}  // namespace vhdcrypt
