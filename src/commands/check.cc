#include "src/commands/check.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>

#include "base/exit_codes.h"
#include "base/json.h"
#include "base/strings.h"
#include "guestfs/inspect.h"
#include "src/check/report.h"

namespace vhdcrypt {

Result<int> RunCheck(const CheckCommandOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  guest::InspectOptions io;
  io.image = o.image;
  io.format = o.format;
  io.data_disks = o.data_disks;
  ASSIGN_OR_RETURN(const guest::Facts facts, guest::CollectFacts(io));
  spdlog::debug("{}: inspected in {:.1f}s", o.image,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  const auto findings = RunRules(facts, o.rules);
  if (o.json) {
    std::cout << JsonText(CheckJson(facts, findings), 2) << "\n";
  } else {
    std::cout << TerminalSafe(CheckText(facts, findings));
  }
  for (const auto& f : findings) {
    if (f.severity == Severity::kError) return kExitFindings;
  }
  return kExitOk;
}

}  // namespace vhdcrypt
