// One malformed input: an image made by a generator, the container format to
// open it as, and a substring (the offending field) the error must contain.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/image.h"

namespace vhdcrypt::testing {

struct MalformedCase {
  std::string name;
  std::vector<uint8_t> image;
  std::string expect;
  FormatHint hint = FormatHint::kAuto;
};

// At least 40 malformed VHD (and raw container) images.
std::vector<MalformedCase> MalformedVhdCases();

// Well-formed images the generators start from, built with our writers.
// Fixed: 4 MiB of patterned data. Dynamic: 8 MiB, 2 MiB blocks, blocks 0 and 2
// allocated (footer copy @0, header @512, BAT @1536, blocks from 2048).
std::vector<uint8_t> ValidFixedVhd();
std::vector<uint8_t> ValidDynamicVhd();

}  // namespace vhdcrypt::testing
