#include "guestfs/version.h"

#include <algorithm>
#include <cctype>

namespace vhdcrypt::guest {

std::vector<uint64_t> ParseVersion(std::string_view s) {
  std::vector<uint64_t> out;
  size_t i = 0;
  while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    uint64_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      n = std::min<uint64_t>(n * 10 + static_cast<uint64_t>(s[i] - '0'), UINT32_MAX);
      ++i;
    }
    out.push_back(n);
    const bool more = i + 1 < s.size() && s[i] == '.' && std::isdigit(static_cast<unsigned char>(s[i + 1]));
    if (!more) break;
    ++i;
  }
  return out;
}

int CompareVersions(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    uint64_t x = i < a.size() ? a[i] : 0, y = i < b.size() ? b[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

}  // namespace vhdcrypt::guest
