// An encrypt (or deploy) output directory opened through its manifest: each
// disk's image, and each volume's area with its LUKS2 header bytes (attached
// ones read from the image; detached ones from their plaintext filesystem, in
// one read-only appliance). Shared by decrypt and deploy.
// Internal to src/commands.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "src/outdir/manifest.h"

namespace vhdcrypt {

// One encrypted volume: its area [start, data_offset + size) of the disk
// (header and data when attached; data only when detached).
struct EncryptedVolume {
  size_t disk = 0;
  uint64_t start = 0;
  uint64_t data_offset = 0;  // absolute, in the encrypted disk
  uint64_t size = 0;         // 0: up to the end of the area (`end`), in whole sectors
  uint64_t end = 0;          // the partition's end, when size is 0
  std::vector<uint8_t> header;
  std::string what;  // for messages: "data.vhd partition 1 (/data)"
  // encrypt --skip-free-space wrote only the used blocks: only those are
  // read (found through the volume key), the rest is noise.
  bool free_space_skipped = false;
};

struct EncryptedDisks {
  std::vector<std::unique_ptr<Image>> images;
  std::vector<std::string> names;  // the encrypted disks' file names
  std::vector<EncryptedVolume> volumes;
};

// DIR's images and volumes as `m` (DIR's manifest) lists them, in its order.
// Every manifest field used is checked against the images (kInvalidInput
// naming DIR/manifest.json).
Result<EncryptedDisks> OpenEncryptedDirectory(const std::string& dir, const Manifest& m);

}  // namespace vhdcrypt
