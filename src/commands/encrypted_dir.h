// An encrypt (or deploy) output directory opened through its manifest: each
// disk's image, and each volume's area with its LUKS2 header bytes (attached
// ones read from the image; detached ones from their plaintext filesystem, in
// one read-only appliance). Shared by decrypt and deploy.
// Internal to src/commands.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "formats/writer.h"
#include "src/commands/progress.h"
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

// Writes disk `disk` of `disks` to `out` in order of offset: the bytes
// between volumes (and after the last) copied as they are, keeping
// sparseness, and each volume's area by `volume(i)` (i into disks.volumes),
// which writes [start, data_offset + size) its own way. A volume that
// overlaps the one before it or runs past the disk is kInvalidInput.
Status WriteDiskInOrder(const EncryptedDisks& disks, size_t disk, ImageWriter& out, Progress& progress,
                        const std::function<Status(size_t)>& volume);

// The byte ranges (from the volume's start) the filesystem of a volume
// whose free space encrypt skipped uses, read through a decrypting view with
// its volume key; the bytes left out are counted done in `progress`.
Result<std::vector<Extent>> UsedExtentsOfSkippedVolume(const EncryptedDisks& disks, const EncryptedVolume& v,
                                                       std::span<const uint8_t> key, uint32_t sector_size,
                                                       Progress& progress);

}  // namespace vhdcrypt
