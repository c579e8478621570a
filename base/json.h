// JSON text that cannot abort. nlohmann's dump() throws (and so, uncaught,
// aborts the tool) on a string that is not UTF-8, and strings here come from
// guests and file names: every writer goes through JsonText, which writes each
// byte that is not part of well-formed UTF-8 as U+FFFD, the replacement
// character (docs/hostile-input.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace vhdcrypt {

// indent < 0: one line; otherwise pretty-printed with that many spaces.
template <typename Json>
std::string JsonText(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace vhdcrypt
