// The key volume: what Azure attaches to a VM whose disks ADE encrypted, and
// what the unlock code vhdcrypt installs in the guest looks for at boot. A
// small fixed VHD holding one vfat filesystem labelled "BEK VOLUME" with the
// passphrase in the file "LinuxPassPhraseFileName" (exactly its bytes, no
// newline). vhdcrypt writes it as DIR/bek.vhd for labs, tests and platforms
// other than Azure; it holds the passphrase, so it is created 0600.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "formats/output_file.h"
#include "guestfs/handle.h"
#include "src/crypto/kek.h"
#include "src/crypto/secret.h"

namespace vhdcrypt {

constexpr char kKeyVolumeLabel[] = "BEK VOLUME";
constexpr char kKeyVolumeName[] = "bek.vhd";
constexpr uint64_t kKeyVolumeBytes = 8 * 1024 * 1024;  // virtual size; a whole number of MiB as Azure wants

// Creates DIR/bek.vhd (temporary name until committed, mode 0600) as an empty
// fixed VHD of kKeyVolumeBytes, ready to be added to an appliance as "vpc".
Result<std::unique_ptr<OutputFile>> CreateKeyVolume(const std::string& dir, bool overwrite);

// In an appliance where the key volume is `device`: makes the filesystem and
// writes the passphrase file. The mount point is the appliance's /, so call
// it before mounting anything else, and it unmounts everything when done.
Status FillKeyVolume(guest::Handle& g, const std::string& device, const SecretBytes& passphrase);

}  // namespace vhdcrypt
