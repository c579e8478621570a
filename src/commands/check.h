// `vhdcrypt check IMAGE`: ADE's prerequisites, judged on the image itself.
#pragma once

#include <string>
#include <vector>

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

int RunCheck(const CheckCommandOptions& options);

}  // namespace vhdcrypt
