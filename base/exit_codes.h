// The documented exit codes (also in `vhdcrypt --help` and README.md).
#pragma once

#include "base/result.h"

namespace vhdcrypt {

enum ExitCode : int {
  kExitOk = 0,
  kExitFindings = 1,  // check found error-level findings, or verification failed
  kExitUsage = 2,     // bad command line
  kExitInvalid = 3,   // invalid or malformed input image
  kExitIo = 4,        // I/O error (read, write, no space)
  kExitGuest = 5,     // a guest (libguestfs) operation failed
};

inline int ExitCodeFor(ErrorKind kind) { return static_cast<int>(kind); }

constexpr const char* kExitCodeHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  findings (check) or failed verification\n"
    "  2  usage error\n"
    "  3  invalid or malformed input\n"
    "  4  I/O error (e.g. no space left)\n"
    "  5  guest operation failed\n";

constexpr const char* kEnvironmentHelp =
    "\nEnvironment:\n"
    "  LIBGUESTFS_BACKEND=direct   how check, encrypt (except --data-only) and verify run\n"
    "                              libguestfs; scripts/guestfs-env sets it\n"
    "  LIBGUESTFS_BACKEND_SETTINGS=force_tcg\n"
    "                              software emulation, where KVM is missing or broken\n";

}  // namespace vhdcrypt
