// DIR/manifest.json: what encrypt produced, for verify, status and people.
// No secrets: no passphrase, no volume key, nothing derived from them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "formats/image.h"

namespace vhdcrypt {

// Where a volume's LUKS2 header lives. kAttached: at header_offset, before the
// data. kDetached (the OS volume): the file header_file on the plaintext
// filesystem of header_device (appliance name on the same disk), and
// data_offset == header_offset == the partition start.
enum class HeaderPlacement { kAttached, kDetached };
const char* HeaderPlacementName(HeaderPlacement h);  // "attached", "detached"
// The placement HeaderPlacementName spells `name`; nullopt for any other text.
std::optional<HeaderPlacement> HeaderPlacementFromName(std::string_view name);

// What became of a volume's free blocks. kEncrypted: every sector of the data
// segment was encrypted and written (the default). kSkipped (encrypt
// --skip-free-space): only the blocks the filesystem used; the others were
// never written (holes, unallocated VHD blocks) and decrypt to noise.
enum class FreeSpace { kEncrypted, kSkipped };
const char* FreeSpaceName(FreeSpace f);  // "encrypted", "skipped"
std::optional<FreeSpace> FreeSpaceFromName(std::string_view name);

struct ManifestDisk {
  std::string input;         // path as given
  std::string input_sha256;  // of the input file's bytes; empty (null in JSON): not hashed
  ContainerKind input_format = ContainerKind::kRaw;
  uint64_t input_virtual_size = 0;
  std::string output;  // file name inside DIR
  ContainerKind output_format = ContainerKind::kRaw;
  uint64_t output_virtual_size = 0;
  std::string partition_table;  // "mbr", "gpt", "none"
  bool os_disk = false;
};

struct ManifestVolume {
  int disk = 0;            // index into disks
  uint32_t partition = 0;  // 0: the whole disk
  std::string device;      // appliance name of the source: "/dev/sdb1"
  std::string mountpoint;  // "" when the disk came without an OS
  std::string filesystem;  // "ext4", "xfs", ...
  std::string filesystem_uuid;
  std::string luks_uuid;
  std::string mapper_name;  // "luks-<luks_uuid>"
  std::string cipher = "aes-xts-plain64";
  uint32_t key_bits = 512;
  uint32_t sector_size = 512;
  std::string pbkdf;
  uint64_t source_offset = 0;  // plaintext volume in the input
  uint64_t size = 0;           // plaintext bytes (= data segment)
  uint64_t header_offset = 0;  // LUKS header (= partition start) in the output
  uint64_t data_offset = 0;    // data segment in the output
  HeaderPlacement header = HeaderPlacement::kAttached;
  std::string header_file;
  std::string header_device;
  // Absent from manifests older than --skip-free-space: encrypted, all of it.
  FreeSpace free_space = FreeSpace::kEncrypted;
  uint64_t encrypted_bytes = 0;  // bytes of the data segment encrypted and written (size unless skipped)

  // The OS volume (mounted at /), whatever its header placement: the guest
  // edits changed it before it was encrypted, so it no longer equals its
  // source.
  bool os() const { return mountpoint == "/"; }
};

// The LUKS2 label of the OS volume's header (encrypt sets it, deploy keeps
// it): `status` tells an attached-header OS volume by it when no manifest
// lies beside the image. ADE's name for the root mapping.
constexpr char kOsVolumeLabel[] = "osencrypt";

// An instance directory (deploy) names the golden directory it was made
// from: the sha256 of the golden's manifest.json bytes, and the directory as
// given to deploy.
struct ManifestGolden {
  std::string manifest_sha256;  // 64 lowercase hex digits
  std::string dir;
};

struct Manifest {
  int version = 1;
  std::string tool;             // kToolName of the encrypt that wrote it: "vhdcrypt 0.1.0"
  std::string passphrase_file;  // "passphrase" when encrypt generated it, "" when the user gave one
  std::vector<ManifestDisk> disks;
  std::vector<ManifestVolume> volumes;
  std::optional<ManifestGolden> golden;  // absent (no "golden" key) for encrypt's own output
};

// A volume for messages: "os.vhd partition 2 (/data)", "data.vhd (whole disk)".
std::string DescribeVolume(const ManifestVolume& v, const ManifestDisk& d);

std::string ManifestToJson(const Manifest& m);
// Validates every field; errors are kInvalidInput naming `path` and the field.
Result<Manifest> ManifestFromJson(const std::string& path, const std::string& text);
// DIR/manifest.json read and validated (at most 16 MiB).
Result<Manifest> ReadManifest(const std::string& dir);
// The bytes of DIR/manifest.json (at most 16 MiB), for a caller that also
// hashes what it parses (ManifestFromJson).
Result<std::string> ReadManifestText(const std::string& dir);

}  // namespace vhdcrypt
