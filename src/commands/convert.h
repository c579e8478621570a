// `vhdcrypt convert IN OUT --to KIND`: streaming copy between containers that
// keeps sparseness and writes OUT atomically.
#pragma once

#include <string>

#include "formats/image.h"

namespace vhdcrypt {

struct ConvertCommandOptions {
  std::string input;
  std::string output;
  FormatHint format = FormatHint::kAuto;
  ContainerKind to = ContainerKind::kVhdFixed;
  bool force = false;
  bool progress = false;
};

int RunConvert(const ConvertCommandOptions& options);

}  // namespace vhdcrypt
