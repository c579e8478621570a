#include "src/commands/check.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>

#include "base/exit_codes.h"
#include "guestfs/inspect.h"
#include "src/check/report.h"
#include "src/commands/report.h"

namespace vhdcrypt {

int RunCheck(const CheckCommandOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  guest::InspectOptions io;
  io.image = o.image;
  io.format = o.format;
  io.data_disks = o.data_disks;
  auto facts = guest::CollectFacts(io);
  if (!facts.ok()) return ReportError(facts.error());
  spdlog::debug("{}: inspected in {:.1f}s", o.image,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  const auto findings = RunRules(*facts, o.rules);
  if (o.json) {
    std::cout << CheckJson(*facts, findings).dump(2) << "\n";
  } else {
    std::cout << CheckText(*facts, findings);
  }
  for (const auto& f : findings) {
    if (f.severity == Severity::kError) return kExitFindings;
  }
  return kExitOk;
}

}  // namespace vhdcrypt
