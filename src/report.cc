#include "src/report.h"

#include <spdlog/spdlog.h>

#include "src/exit_codes.h"

namespace vhdcrypt {

int ReportError(const Error& error) {
  spdlog::error("{}", error.message());
  return ExitCodeFor(error.kind());
}

}  // namespace vhdcrypt
