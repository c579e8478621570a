#pragma once

#include <cstdint>
#include <string>

#include "formats/image.h"
#include "formats/result.h"

namespace vhdcrypt {

// "1073741824 (1.00 GiB)"
std::string HumanBytes(uint64_t bytes);
// Parses "auto|vhd|raw".
Result<FormatHint> ParseFormatHint(const std::string& s);
// Parses "raw|vhd-fixed|vhd-dynamic".
Result<ContainerKind> ParseContainerKind(const std::string& s);

}  // namespace vhdcrypt
