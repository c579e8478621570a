// The stages of `encrypt`, in the order Encrypt (encrypt.cc) runs them:
//
//   ReadInputs      the guest's facts (one appliance inspection, or the
//                   superblock probes of --data-only)          encrypt_plan.cc
//   GateOnFindings  check's rules; errors stop the run (kFindings) unless --force
//   PlanVolumes     which volumes: the OS volume and/or the data volumes
//   PlanDisks       every output disk laid out around its volumes
//   KeyOutputs      passphrase, passphrase.wrapped, keyvault-secret.json,
//                   recovery-key, bek.vhd: made up front, committed together   encrypt_keys.cc
//   WriteData       partition tables, copied and encrypted segments, with
//                   the LUKS2 headers made beside them         encrypt_data.cc
//   EditGuest       crypttab, fstab, initramfs, boot loader   encrypt_guest.cc
//   EncryptOsVolume the OS volume encrypted in place, after the edits
//   ConvertWorkFiles raw work files into dynamic VHD outputs
//   then the manifest, the commit of every output, and --verify.
//
// Internal to src/commands.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "formats/image.h"
#include "formats/output_file.h"
#include "formats/partition_table.h"
#include "formats/writer.h"
#include "guestfs/facts.h"
#include "src/commands/encrypt.h"
#include "src/commands/progress.h"
#include "src/crypto/secret.h"
#include "src/outdir/manifest.h"
#include "src/plan/layout.h"
#include "src/plan/volumes.h"

namespace vhdcrypt::encrypt {

// LUKS2's default header (two 16 KiB metadata copies and the keyslots area)
// with libcryptsetup's default 1 MiB alignment: the data segment starts 16 MiB
// into the partition, as after a plain `cryptsetup luksFormat`.
constexpr uint64_t kHeaderBytes = 16 * 1024 * 1024;

struct Disk {
  std::string input;
  std::unique_ptr<Image> image;
  PartitionTable table;
  std::array<uint8_t, kSectorSize> sector0{};
  std::vector<size_t> volumes;  // indices into the volume list
  DiskLayout layout;
  ContainerKind out_kind = ContainerKind::kRaw;
  std::string out_name;
  std::unique_ptr<OutputFile> out;
  // The OS volume is encrypted in place after the guest edits, which needs
  // virtual offsets that are file offsets: a dynamic VHD output is then
  // written as a raw work file first (never committed) and converted at the
  // end. Otherwise work_kind is out_kind and there is no work file.
  ContainerKind work_kind = ContainerKind::kRaw;
  std::unique_ptr<OutputFile> work;
  std::unique_ptr<ImageWriter> writer;  // a LockedWriter over target()

  OutputFile& target() const { return work ? *work : *out; }
};

struct Volume {
  DataVolumeChoice choice;  // points into the run's guest::Facts
  ManifestVolume m;
  bool os = false;       // the OS volume: encrypted in place after the guest edits
  std::string partuuid;  // the OS volume's PARTUUID as blkid and udev spell it
  bool lvm_pv = false;   // the OS volume is the PV under /: fstab keeps naming the LV
  // With --skip-free-space: the byte ranges (from the volume's start) its
  // filesystem uses, the only ones encrypted and written.
  std::vector<Extent> used;

  bool detached() const { return m.header == HeaderPlacement::kDetached; }
};

// The header options of one volume: the run's PBKDF and costs, the
// manifest's sector size, LUKS UUID and header placement, and the OS
// volume's label (kOsVolumeLabel). Shared by encrypt and deploy.
LuksOptions VolumeLuksOptions(const LuksOptions& run, const ManifestVolume& m);

// What is known of the inputs before anything is chosen.
struct Inputs {
  std::vector<std::string> paths;  // the image, then the data disks
  guest::Facts facts;
  bool has_os = false;  // an OS was found (never with --data-only)
};

// What will be written where. Volumes point into the Inputs' facts, which
// must outlive the plan.
struct Plan {
  std::vector<Volume> volumes;
  std::vector<Disk> disks;
  bool split_boot = false;  // / holds /boot: a new /boot partition is made
  std::string boot_device;  // appliance name of the plaintext /boot ("" without the OS volume)
};

// Stage 1: plan (encrypt_plan.cc).
Result<Inputs> ReadInputs(const EncryptCommandOptions& o);
// The check report goes to stderr; an error of kind kFindings unless --force.
Status GateOnFindings(const EncryptCommandOptions& o, const Inputs& in);
Result<std::vector<Volume>> PlanVolumes(const EncryptCommandOptions& o, const Inputs& in);
// Opens each disk again through formats/ and lays it out around its volumes,
// filling in each volume's manifest entry but the LUKS UUID and header.
Result<Plan> PlanDisks(const EncryptCommandOptions& o, const Inputs& in, std::vector<Volume> volumes);

// Stage 2: the key outputs (encrypt_keys.cc).
// Before anything is read: the run's passphrase (--key-file, or generated),
// its wrapping with --kek and, with --recovery-key, a new recovery key. A key
// that cannot be read or wrapped costs nothing yet. (deploy's too.)
struct Secrets {
  SecretBytes passphrase;
  std::vector<uint8_t> wrapped;  // empty without --kek
  SecretBytes recovery;          // empty without --recovery-key
};
Result<Secrets> ReadOrMakeSecrets(const EncryptCommandOptions& o);
// Every key output is created (under a temporary name) before the long
// part, so a clash or a refused key costs nothing; they are committed first,
// with the images and the manifest (CommitAll: all of them or none).
struct KeyOutputs {
  std::unique_ptr<OutputFile> passphrase;  // DIR/passphrase
  std::unique_ptr<OutputFile> wrapped;     // DIR/passphrase.wrapped (--kek)
  std::unique_ptr<OutputFile> secret;      // DIR/keyvault-secret.json
  std::unique_ptr<OutputFile> key_volume;  // DIR/bek.vhd, filled by the guest stage
  std::unique_ptr<OutputFile> recovery;    // DIR/recovery-key (--recovery-key)

  std::vector<OutputFile*> Files() const;                      // those made, in commit order
  std::string Describe(const EncryptCommandOptions& o) const;  // for the closing log line
};
// `recovery` empty: no recovery-key file.
Result<KeyOutputs> CreateKeyOutputs(const EncryptCommandOptions& o, const SecretBytes& passphrase,
                                    const std::vector<uint8_t>& wrapped, const SecretBytes& recovery,
                                    bool with_key_volume);

// Stage 3: the data (encrypt_data.cc).
// One random volume key per volume, and its LUKS UUID, mapper name and header
// placement in the manifest entry.
Result<std::vector<SecretBytes>> MakeVolumeKeys(Plan& plan);
// Each disk's writer (over its output or work file); writes go through one
// lock, since the header task writes beside the engine.
Status OpenWriters(Plan& plan, std::mutex& lock, const WriterOptions& options);
// Bytes the progress counts for the whole run.
uint64_t ProgressTotal(const Plan& plan);
// Partition tables (an OS disk whose volume's header is attached gets its
// edit table, DiskLayout::edit_table_writes), copied and encrypted segments
// and LUKS2 headers (a detached OS header into *os_header); the writers
// finished. Each
// header gets a key slot for the passphrase and, when `recovery` is not
// empty, one for the recovery key (with its systemd-recovery token).
Status WriteData(const EncryptCommandOptions& o, Plan& plan, const std::vector<SecretBytes>& keys,
                 const SecretBytes& passphrase, const SecretBytes& recovery, Progress& progress,
                 std::vector<uint8_t>* os_header);
// The OS volume, still plaintext in its output, encrypted where it lies
// (and, with its header attached, its disk's final partition table written).
Status EncryptOsVolume(const EncryptCommandOptions& o, Plan& plan, const std::vector<SecretBytes>& keys,
                       Progress& progress);
// Raw work files into their dynamic VHD outputs.
Status ConvertWorkFiles(Plan& plan, const WriterOptions& options, Progress& progress);

// The inputs' sha256, computed on a thread of its own (niced) while the
// outputs are written. Stopped, and joined, when destroyed.
class InputHasher {
 public:
  InputHasher(std::vector<std::string> paths, bool skip);
  ~InputHasher();
  InputHasher(const InputHasher&) = delete;
  InputHasher& operator=(const InputHasher&) = delete;
  // One digest per input ("" for each with --no-input-hash); waits.
  Result<std::vector<std::string>> Get();

 private:
  std::shared_ptr<std::atomic<bool>> stop_;
  std::future<Result<std::vector<std::string>>> result_;
};

// Stage 4: the guest (encrypt_guest.cc): the edits of guest/os_edits.h made
// in one appliance over the OS disk's output, and the key volume filled.
// os_header: the OS volume's detached header, or nullptr.
Status EditGuest(const Inputs& in, const Plan& plan, const std::vector<uint8_t>* os_header, OutputFile* key_volume,
                 const SecretBytes& passphrase);

// The manifest of the run (encrypt_plan.cc's counterpart at the end).
Manifest MakeManifest(const Inputs& in, const Plan& plan, const KeyOutputs& keys, const std::vector<std::string>& sums);

}  // namespace vhdcrypt::encrypt
