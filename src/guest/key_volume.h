// The key volume: what Azure attaches to a VM whose disks ADE encrypted, and
// what the unlock code vhdcrypt installs in the guest looks for at boot. A
// small fixed VHD laid out as Azure's is: an MBR with one partition, and in
// partition 1 a vfat filesystem labelled "BEK VOLUME" with the passphrase in
// the file "LinuxPassPhraseFileName" (exactly its bytes, no newline). ADE's
// extension looks for the volume's "-part1"; vhdcrypt's own unlock code finds
// it by label, so a bare vfat key volume (vhdcrypt before 2026-12) still
// works. vhdcrypt writes it as DIR/bek.vhd for labs, tests and platforms
// other than Azure; it holds the passphrase, so it is created 0600.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "formats/output_file.h"
#include "formats/partition_table.h"
#include "guestfs/handle.h"
#include "src/crypto/kek.h"
#include "src/crypto/secret.h"

namespace vhdcrypt {

constexpr char kKeyVolumeLabel[] = "BEK VOLUME";
constexpr char kKeyVolumeName[] = "bek.vhd";
constexpr uint64_t kKeyVolumeBytes = 8 * 1024 * 1024;  // virtual size; a whole number of MiB as Azure wants

constexpr uint32_t kKeyVolumePartitionStart = 2048;  // sectors: 1 MiB, as partitioning tools align
constexpr uint8_t kKeyVolumePartitionType = 0x0c;    // FAT (LBA); Linux reads the FAT kind from the filesystem

// The key volume's MBR: one partition from 1 MiB to the end of the disk.
Result<std::vector<DiskWrite>> KeyVolumePartitionTable();

// Creates DIR/bek.vhd (temporary name until committed, mode 0600) as a fixed
// VHD of kKeyVolumeBytes holding its partition table, ready to be added to an
// appliance as "vpc".
Result<std::unique_ptr<OutputFile>> CreateKeyVolume(const std::string& dir, bool overwrite);

// In an appliance where the key volume is the disk `device` ("/dev/sdb"):
// makes the filesystem on its partition 1 and writes the passphrase file. The
// mount point is the appliance's /, so call it before mounting anything else,
// and it unmounts everything when done.
Status FillKeyVolume(guest::Handle& g, const std::string& device, const SecretBytes& passphrase);

}  // namespace vhdcrypt
