// Dotted version numbers as guests write them (agent versions, VERSION_ID).
// Shared by inspection, which keeps the newest agent it finds, and by the
// rules, which compare it with ADE's minimum.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace vhdcrypt::guest {

// Leading dotted numbers of a version string: "2.2.53.1" -> {2,2,53,1},
// "WALinuxAgent-2.9.1.1" -> {2,9,1,1}, "8.6-beta" -> {8,6}. Empty if none.
std::vector<uint64_t> ParseVersion(std::string_view s);

// Compares dotted versions, missing components counting as 0: -1, 0 or 1.
int CompareVersions(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

}  // namespace vhdcrypt::guest
