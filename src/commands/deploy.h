// `vhdcrypt deploy GOLDEN_DIR --key-file GOLDEN_KEY --output-dir INSTANCE_DIR`:
// one machine's copy of a golden encrypt output, with keys of its own. Every
// volume gets a new random volume key (its data decrypted with the golden key
// and encrypted with the new one in one streaming pass; with a golden made
// with --skip-free-space, only the used blocks), a new LUKS2 header (same
// UUID, sector size and layout) with a key slot for the instance's
// passphrase and, with --recovery-key, one for a recovery key. A detached OS
// header is replaced in /boot and in every initramfs image, and the
// instance's bek.vhd holds the new passphrase. The golden directory is only
// read. docs/deploy.md.
#pragma once

#include <string>

#include "base/result.h"
#include "src/commands/encrypt.h"

namespace vhdcrypt {

struct DeployCommandOptions {
  std::string golden_dir;
  std::string golden_key_file;  // --key-file: opens the golden's volumes
  // The instance: output_dir, key_file (--new-key-file; "" -> generated),
  // kek, kek_alg, kek_url, write_passphrase, recovery_key, has_to/to,
  // no_key_volume, threads, luks (PBKDF of the new key slots), force and
  // progress, as encrypt takes them. The rest is unused.
  EncryptCommandOptions instance;
};

Result<int> RunDeploy(const DeployCommandOptions& options);

}  // namespace vhdcrypt
