// `vhdcrypt check IMAGE`: ADE's prerequisites, judged on the image itself.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "src/check/rules.h"

namespace vhdcrypt {

struct CheckCommandOptions {
  std::string image;
  FormatHint format = FormatHint::kAuto;
  std::vector<std::string> data_disks;
  CheckOptions rules;
  bool json = false;
};

// The exit code of a run that completed (0, or 1 when a finding is an error), or the error that stopped it
// (the CLI reports it and maps it to its exit code).
Result<int> RunCheck(const CheckCommandOptions& options);

}  // namespace vhdcrypt
