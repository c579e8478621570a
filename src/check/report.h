// How `vhdcrypt check` prints its findings: JSON for scripts, text for people.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "guestfs/facts.h"
#include "src/check/rules.h"

namespace vhdcrypt {

// {"image": ..., "os": {"distro", "product_name", "major", "minor", "arch", "type", "root"},
//  "findings": [{"id", "severity", "message", "remedy", "subject"}...], "ok": bool}
// in that key order; findings in the order given (RunRules sorts them).
// "ok" is true when no finding is an error.
nlohmann::ordered_json CheckJson(const guest::Facts& facts, const std::vector<Finding>& findings);

// A header naming the image and its OS; the findings grouped by severity,
// errors first, each as
//   error   fstab-missing-nofail  /etc/fstab:3: MESSAGE
//     fix: REMEDY
// and a summary: "2 errors, 1 warning, 0 info: not ready" (or ": ready to encrypt").
std::string CheckText(const guest::Facts& facts, const std::vector<Finding>& findings);

}  // namespace vhdcrypt
