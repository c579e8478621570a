#include "src/commands/report.h"

#include <spdlog/spdlog.h>

#include "base/exit_codes.h"

namespace vhdcrypt {

int ReportError(const Error& error) {
  spdlog::error("{}", error.message());
  return ExitCodeFor(error.kind());
}

}  // namespace vhdcrypt
