// `vhdcrypt verify DIR --key-file FILE [--against IMAGE]...`: unlocks every
// volume of DIR/manifest.json with the kernel's dm-crypt in the libguestfs
// appliance (an implementation independent of ours) and compares it with the
// source partition (sha256) or, without --against, checks its filesystem.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "src/crypto/secret.h"

namespace vhdcrypt {

struct VerifyCommandOptions {
  std::string dir;
  std::string key_file;
  std::vector<std::string> against;  // the original inputs, in manifest disk order
};

// The exit code of a run that completed (0, or 1 when a volume fails), or the error that stopped it
// (the CLI reports it and maps it to its exit code).
Result<int> RunVerify(const VerifyCommandOptions& options);

// For encrypt --verify: the same, with the passphrase already in memory.
// Returns kExitOk or kExitFindings, having printed one line per volume.
Result<int> VerifyDirectory(const std::string& dir, const SecretBytes& passphrase,
                            const std::vector<std::string>& against);

}  // namespace vhdcrypt
