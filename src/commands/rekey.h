// `vhdcrypt rekey IMAGE... --key-file OLD --new-key-file NEW`: gives every
// LUKS2 volume of the images (attached headers, and detached OS headers found
// as /luks/osluksheader or /boot/luks/osluksheader on a plaintext filesystem)
// a key slot for the new passphrase in place of the old one, and rewrites the
// passphrase file of a key volume ("BEK VOLUME") among them. The images are
// changed in place (rekey a copy of a golden image per deployment); the
// volume keys, and so the encrypted data, stay as they are. Every header is
// changed in memory and checked before the first byte is written.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "src/crypto/luks.h"

namespace vhdcrypt {

struct RekeyCommandOptions {
  std::vector<std::string> images;
  std::string key_file;
  std::string new_key_file;
  LuksOptions luks;  // PBKDF of the new key slots
};

// The exit code of a run that completed (0), or the error that stopped it
// (the CLI reports it and maps it to its exit code).
Result<int> RunRekey(const RekeyCommandOptions& options);

}  // namespace vhdcrypt
