// `vhdcrypt convert IN OUT --to KIND`: streaming copy between containers that
// keeps sparseness and writes OUT atomically.
#pragma once

#include <string>

#include "base/result.h"
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

// The exit code of a run that completed (0), or the error that stopped it
// (the CLI reports it and maps it to its exit code).
Result<int> RunConvert(const ConvertCommandOptions& options);

}  // namespace vhdcrypt
