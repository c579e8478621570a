// `vhdcrypt info IMAGE`: what the container and its partition table hold.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/result.h"
#include "formats/image.h"

namespace vhdcrypt {

struct InfoCommandOptions {
  std::string image;
  FormatHint format = FormatHint::kAuto;
  bool json = false;
};

// Everything `info` reports, as JSON (the text output is rendered from it).
Result<nlohmann::ordered_json> CollectInfo(const InfoCommandOptions& options);
std::string RenderInfoText(const nlohmann::ordered_json& info);
// The exit code of a run that completed (0), or the error that stopped it
// (the CLI reports it and maps it to its exit code).
Result<int> RunInfo(const InfoCommandOptions& options);

}  // namespace vhdcrypt
