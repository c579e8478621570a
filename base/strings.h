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

// "512 B", or the exact count and a rounded binary unit: "1073741824 (1.00 GiB)".
std::string HumanBytes(uint64_t bytes);

}  // namespace vhdcrypt
