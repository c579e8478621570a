// `vhdcrypt status IMAGE [--data DISK]... [--json]`: what is encrypted in a
// set of images, in ADE's vocabulary, without a key: OsVolumeEncrypted and
// DataVolumesEncrypted (Encrypted, NotEncrypted, NotMounted,
// EncryptionInProgress; Unknown when there is no OS volume at all), and
// every volume with its LUKS parameters and where its header is.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace vhdcrypt {

struct StatusCommandOptions {
  std::string image;
  std::vector<std::string> data_disks;
  bool json = false;
};

// The exit code of a run that completed (0), or the error that stopped it
// (the CLI reports it and maps it to its exit code).
Result<int> RunStatus(const StatusCommandOptions& options);

}  // namespace vhdcrypt
