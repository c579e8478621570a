// LUKS2 headers made by libcryptsetup itself: vhdcrypt never writes LUKS
// metadata by hand. A header is formatted on an in-memory scratch file
// (memfd), with a volume key vhdcrypt drew, and its bytes are copied into the
// output image in front of the data segment the engine encrypts.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "src/crypto/secret.h"

namespace vhdcrypt {

enum class Pbkdf { kArgon2id, kPbkdf2 };
const char* PbkdfName(Pbkdf pbkdf);  // "argon2id", "pbkdf2"

constexpr char kLuksCipher[] = "aes";
constexpr char kLuksCipherMode[] = "xts-plain64";
constexpr uint32_t kLuksKeyBytes = 64;  // AES-256-XTS: two 256-bit halves

struct LuksOptions {
  uint32_t sector_size = 512;  // encryption sector size: 512 or 4096
  Pbkdf pbkdf = Pbkdf::kArgon2id;
  uint32_t iter_time_ms = 2000;  // PBKDF unlock time to aim for, as cryptsetup --iter-time
  // Argon2 memory cap: keeps vhdcrypt's peak RSS low and lets small VMs
  // unlock at boot.
  uint32_t max_memory_kb = 128 * 1024;
  std::string uuid;  // "" -> random
  // Detached header (as ADE keeps the OS volume's in /boot/luks/osluksheader):
  // the data segment starts at offset 0 of the volume, which keeps its size,
  // and the header is a file of its own.
  bool detached = false;
  // The LUKS2 label (blkid's LABEL, luksDump's "Label:"): "" for none.
  std::string label;

  // The key slot's PBKDF costs. iterations == 0 (the default): libcryptsetup
  // benchmarks the PBKDF for iter_time_ms on every FormatLuksHeader, and the
  // volume-key digest's PBKDF2 too (seconds per header). Otherwise
  // FormatLuksHeader runs no benchmark and the key slot gets exactly these
  // costs; CalibrateLuksOptions fills them in once for a whole run.
  //   pbkdf2:   iterations >= 1000; memory_kb and parallel_threads 0.
  //   argon2id: iterations (time cost) >= 4, memory_kb in [32, max_memory_kb],
  //             parallel_threads 1 to 4 (libcryptsetup lowers it to the
  //             number of online CPUs, as cryptsetup does).
  // With explicit costs libcryptsetup gives the volume-key digest the PBKDF2
  // minimum of 1000 iterations instead of ~125 ms worth; the digest only
  // checks a 512-bit random key, so its iteration count adds no protection.
  uint32_t iterations = 0;        // PBKDF2 iterations, or Argon2 time cost
  uint32_t memory_kb = 0;         // Argon2 memory cost, KiB
  uint32_t parallel_threads = 0;  // Argon2 lanes/threads
};

struct LuksHeader {
  // Binary header, JSON areas and keyslots area: data_offset bytes when
  // attached, the whole header file (16 MiB by default) when detached.
  std::vector<uint8_t> bytes;
  uint64_t data_offset = 0;  // bytes from the start of the volume to the data segment (0 when detached)
  std::string uuid;          // LUKS UUID, lowercase, as blkid shows it
  uint32_t sector_size = 512;
  Pbkdf pbkdf = Pbkdf::kArgon2id;
};

// Formats LUKS2 (aes-xts-plain64, 512-bit key, the given volume key, one
// keyslot opened by passphrase) with a data segment that runs to the end of
// the device, and returns the header bytes. volume_key must be kLuksKeyBytes
// with differing halves. With options.iterations set (CalibrateLuksOptions)
// no PBKDF benchmark runs: the cost is one key derivation at those costs.
// Errors are kUsage for bad options, kIo otherwise (libcryptsetup's message
// included).
Result<LuksHeader> FormatLuksHeader(const SecretBytes& passphrase, const SecretBytes& volume_key,
                                    const LuksOptions& options);

// A new random volume key of kLuksKeyBytes whose two XTS halves differ.
Result<SecretBytes> RandomVolumeKey();

// A recovery key in systemd's form, as `systemd-cryptenroll --recovery-key`
// prints it: 32 random bytes in modhex ("cbdefghijklnrtuv" for 0 to f),
// 64 characters in 8 groups of 8 joined by '-' (71 in all). The formatted
// text itself is the key slot's passphrase, so systemd-cryptsetup, a person
// at a console and `cryptsetup open` all accept it as typed.
inline constexpr size_t kRecoveryKeyChars = 71;
Result<SecretBytes> GenerateRecoveryKey();

// Adds a key slot opened by `recovery` to a formatted header (the volume key
// proves the right to, as crypt_keyslot_add_by_volume_key does), with the
// PBKDF and costs of `options`, and a LUKS2 token of type
// "systemd-recovery" naming that slot, as systemd-cryptenroll records one.
// Returns the changed bytes, the same size. kUsage when the volume key does
// not match the header.
Result<std::vector<uint8_t>> AddLuksRecoveryKey(const std::vector<uint8_t>& header, const SecretBytes& volume_key,
                                                const SecretBytes& recovery, const LuksOptions& options);

// Runs libcryptsetup's PBKDF benchmark once, as crypt_format would (same
// target time, memory cap, thread count and 512-bit output), on a dummy
// password and salt, and returns options with iterations, memory_kb and
// parallel_threads set to the result. Headers formatted with them all carry
// the same key slot cost and format without benchmarking. Options that
// already carry costs come back unchanged. Errors: kUsage for bad options,
// kIo if libcryptsetup fails.
Result<LuksOptions> CalibrateLuksOptions(const LuksOptions& options);

// The PBKDF fields of options on their own (kUsage naming what is wrong), so
// a command line can be refused before any work starts.
Status CheckPbkdfOptions(const LuksOptions& options);

// Loads header bytes (attached or detached) with libcryptsetup (crypt_load) and unlocks the volume
// key with the passphrase. For tests and for rekey/decrypt. A wrong
// passphrase is kUsage ("no key slot opens with this passphrase").
Result<SecretBytes> UnlockLuksHeader(const std::vector<uint8_t>& header, const SecretBytes& passphrase);

// What decrypting a volume needs of its header, as libcryptsetup reads it.
struct UnlockedLuks {
  SecretBytes key;
  std::string cipher;  // "aes-xts-plain64"
  uint32_t sector_size = 512;
  uint64_t data_offset = 0;  // bytes from the header's start (0: detached, data at the device start)
};
// Replaces the key slot the old passphrase opens with one for the new
// passphrase (libcryptsetup's crypt_keyslot_change_by_passphrase, with the
// PBKDF and costs of `options` as for a new header), on a scratch copy of the
// header bytes; returns the changed bytes, the same size. The old passphrase
// opens no key slot afterwards. A wrong old passphrase is kUsage.
Result<std::vector<uint8_t>> ChangeLuksPassphrase(const std::vector<uint8_t>& header, const SecretBytes& old_passphrase,
                                                  const SecretBytes& new_passphrase, const LuksOptions& options);

// Sizing a LUKS2 header found on a disk, before libcryptsetup sees it.
// Luks2HdrSize: the binary header's hdr_size (16 KiB to 4 MiB) from its first
// 16 bytes, 0 when they are not a LUKS signature. Luks2MetadataBytes: from
// the primary header (its first hdr_size bytes), what libcryptsetup needs:
// both header copies and the key slots area (config.keyslots_size).
// Malformed fields are kInvalidInput naming `what`, the field and its offset.
// The version (offset 6) after a LUKS signature, primary ("LUKS") or
// secondary ("SKUL"); 0 when there is none.
unsigned LuksVersion(std::span<const uint8_t> head);

// Both take the secondary copy too (signature "SKUL"): when the primary is
// damaged, the secondary at offset hdr_size says the same (libcryptsetup
// loads the whole area and uses whichever copy is valid).
Result<uint64_t> Luks2HdrSize(const std::string& what, std::span<const uint8_t> first16);
Result<uint64_t> Luks2MetadataBytes(const std::string& what, std::span<const uint8_t> primary);
// Where a secondary LUKS2 header may be: at its hdr_size, 16 KiB to 4 MiB.
inline constexpr uint64_t kLuks2SecondaryOffsets[] = {16384,  32768,   65536,   131072, 262144,
                                                      524288, 1048576, 2097152, 4194304};

// A LUKS1 header's size from its first kLuks1PhdrBytes bytes (the binary
// header and its 8 key slots): to the payload, or to the end of the last
// active key slot's material, at most kMaxLuks1HeaderBytes.
inline constexpr size_t kLuks1PhdrBytes = 592;
inline constexpr uint64_t kMaxLuks1HeaderBytes = 16u << 20;
Result<uint64_t> Luks1HeaderBytes(const std::string& what, std::span<const uint8_t> phdr);

// What a LUKS header (version 2, or 1 from other tools) says about its
// volume, without a passphrase.
// One active key slot, and what opens it: "passphrase", "recovery" (a
// systemd-recovery token names it) or another token's type ("systemd-tpm2",
// "clevis", ...).
struct LuksKeySlot {
  int slot = 0;
  std::string kind;
};
struct LuksToken {
  int id = 0;
  std::string type;
  std::vector<int> keyslots;
};

struct LuksInfo {
  int version = 2;
  std::string uuid;
  std::string cipher;  // "aes-xts-plain64"
  uint32_t key_bits = 0;
  uint32_t sector_size = 512;
  uint64_t data_offset = 0;  // bytes from the header's start (0 for a detached header)
  // The LUKS2 label as the header holds it (any bytes up to 47, never
  // printed: it is the image's); "" for none and for LUKS1.
  std::string label;
  bool reencrypting = false;  // a reencryption (e.g. ADE's in-place encryption) is under way or was cut off
  // LUKS2 requirement flags this libcryptsetup does not know: it will not
  // open the volume (nor will vhdcrypt), whatever the passphrase.
  bool unknown_requirements = false;
  // LUKS2 only (empty for LUKS1), from the header's JSON; no secrets.
  std::vector<LuksKeySlot> key_slots;
  std::vector<LuksToken> tokens;
};
Result<LuksInfo> InspectLuksHeader(const std::vector<uint8_t>& header);
// InspectLuksHeader's reading of the LUKS2 metadata JSON (as crypt_dump_json
// gives it) into info.key_slots and info.tokens, each sorted by number: no
// exceptions, a member of an unexpected type or a number over 3 digits is
// skipped, text that is not a JSON object gives none.
void KeySlotsAndTokensFromJson(std::string_view json, LuksInfo& info);

// UnlockLuksHeader, with the cipher, sector size and data offset.
Result<UnlockedLuks> UnlockLuksVolume(const std::vector<uint8_t>& header, const SecretBytes& passphrase);

}  // namespace vhdcrypt
