#pragma once

#include "base/result.h"

namespace vhdcrypt {

// Prints "vhdcrypt: error: MESSAGE" once, on stderr, and returns the exit code.
int ReportError(const Error& error);

}  // namespace vhdcrypt
