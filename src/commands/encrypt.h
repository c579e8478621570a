// `vhdcrypt encrypt IMAGE [--data DISK]... --output-dir DIR`: the chosen
// volumes become LUKS2 in new images under DIR (data volumes with their header
// attached, the OS volume with its header detached on /boot or, with
// --os-header attached, in front of its data), the guest learns
// to unlock them at boot, and the inputs are only read. encrypt_stages.h lists
// the stages; docs/encrypt.md and docs/output-directory.md give the contract.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "src/check/rules.h"
#include "src/commands/progress.h"
#include "src/crypto/kek.h"
#include "src/crypto/luks.h"
#include "src/outdir/manifest.h"

namespace vhdcrypt {

struct EncryptCommandOptions {
  std::string image;
  FormatHint format = FormatHint::kAuto;
  std::vector<std::string> data_disks;
  std::string output_dir;
  CheckOptions rules{Policy::kAzure, VolumeType::kData};
  std::string key_file;  // "" -> generate DIR/passphrase
  // --kek: the passphrase is wrapped with this RSA public key (PEM) into
  // DIR/passphrase.wrapped, and DIR/passphrase is written only with
  // write_passphrase (never with --key-file: the user has it already).
  std::string kek;
  KekAlg kek_alg = KekAlg::kRsaOaep;
  std::string kek_url;  // the KEK's Key Vault URL, for the secret's tags; optional
  bool write_passphrase = false;
  // One more key slot per volume, opened by a generated recovery key in
  // systemd's modhex form, written to DIR/recovery-key (0600).
  bool recovery_key = false;
  bool has_to = false;  // --to given; else each output keeps its input's container
  ContainerKind to = ContainerKind::kVhdFixed;
  unsigned threads = 0;
  uint32_t sector_size = 0;  // 0: choose per filesystem
  LuksOptions luks;          // pbkdf, iter_time_ms
  bool force = false;        // encrypt despite error-level findings; replace outputs
  bool verify = false;
  // The disks hold no OS: find filesystems by their superblocks and skip the
  // appliance (no check, no guest edits). Refused for disks that look
  // bootable.
  bool data_only = false;
  // Do not write DIR/bek.vhd (the platform attaches its own key volume).
  bool no_key_volume = false;
  // Leave the inputs' sha256 out of manifest.json: the hash is one serial
  // SHA-256 stream over every input (about 1.6 GB/s on a core with SHA
  // instructions), which bounds the run when storage and the engine are faster.
  bool no_input_hash = false;
  // When / holds /boot, the OS volume needs a plaintext /boot: a new ext4
  // partition of this many MiB is added at the end of the disk.
  uint64_t boot_size_mib = 512;
  // The OS volume's LUKS2 header: detached on /boot and in the initramfs
  // (ADE's layout), or attached in front of its data (the root partition
  // grows by it; what systemd-cryptenroll and clevis need).
  HeaderPlacement os_header = HeaderPlacement::kDetached;
  // Encrypt and write only the blocks each volume's filesystem uses (ext2/3/4
  // or XFS, data and OS volumes); the rest of the volume is never written, so
  // it is a hole or an unallocated VHD block and decrypts to noise.
  bool skip_free_space = false;
  ProgressMode progress = ProgressMode::kAuto;
};

// The exit code of a run that completed (0, or 1 when --verify found a volume that fails), or the error that stopped it
// (the CLI reports it and maps it to its exit code).
Result<int> RunEncrypt(const EncryptCommandOptions& options);

}  // namespace vhdcrypt
