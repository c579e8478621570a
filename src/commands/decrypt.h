// `vhdcrypt decrypt DIR|IMAGE [--data DISK]... --key-file FILE --output-dir OUT`: the inverse of
// encrypt, for labs that need to read a disk: every volume of
// DIR/manifest.json is unlocked with its header (attached, or detached on the
// plaintext /boot, read through the appliance) and decrypted by the engine
// into a new image in OUT, at the start of its partition, so each volume
// holds exactly the plaintext encrypt read. The partition table and every
// other byte are copied as they are; the room the attached header took (at
// the end of the partition, now) reads as zeros. Guest configuration
// (crypttab, fstab, initramfs) is left as encrypt made it. An IMAGE without a
// manifest (encrypted by ADE inside a VM) has its volumes found as status
// finds them; each runs to the end of its partition.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "src/commands/progress.h"

namespace vhdcrypt {

struct DecryptCommandOptions {
  std::string source;                   // encrypt's output directory, or an image encrypted elsewhere (ADE)
  std::vector<std::string> data_disks;  // with an image: its data disks
  std::string key_file;
  std::string output_dir;
  bool has_to = false;
  ContainerKind to = ContainerKind::kRaw;  // default: each disk's container as in DIR
  unsigned threads = 0;
  bool force = false;
  ProgressMode progress = ProgressMode::kAuto;
};

// The exit code of a run that completed (0), or the error that stopped it
// (the CLI reports it and maps it to its exit code).
Result<int> RunDecrypt(const DecryptCommandOptions& options);

}  // namespace vhdcrypt
