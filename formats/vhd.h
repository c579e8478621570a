// Microsoft VHD (Virtual Hard Disk Image Format Specification, v1.0), fixed
// and dynamic. All multi-byte fields are big-endian.
//
// Fixed:    [ data: current_size bytes ][ footer: 512 bytes ]
// Dynamic:  [ footer copy ][ dynamic header (1024) ][ BAT ][ blocks... ][ footer ]
//   - The BAT holds max_table_entries big-endian uint32 sector offsets, one per
//     block of block_size bytes; 0xFFFFFFFF means "not allocated, reads as zeros".
//   - A block on disk is a sector bitmap (one bit per 512-byte sector, MSB
//     first, padded to a whole sector) followed by block_size bytes of data. A
//     clear bit means the sector was never written and reads as zeros.
//
// Quirks kept in one place:
//   - The virtual size is footer.current_size (what Hyper-V and Azure use).
//     qemu 7.x uses the CHS geometry product instead for creator apps other
//     than "win ", "qem2", "d2v ", "CTXS", "tap\0"; we write "win " so every
//     reader agrees, and warn when reading an image where the two differ.
//   - qemu cannot detect a fixed VHD by probing (the footer is at EOF), so
//     callers always pass the format explicitly to qemu and libguestfs.
//   - Differencing disks (type 4) need a parent and are refused.
//   - Azure accepts only fixed VHDs whose virtual size is a whole number of MiB.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "formats/io.h"

namespace vhdcrypt::vhd {

constexpr size_t kFooterSize = 512;
constexpr size_t kDynamicHeaderSize = 1024;
constexpr uint32_t kUnallocated = 0xFFFFFFFF;
constexpr uint64_t kNoDataOffset = 0xFFFFFFFFFFFFFFFFull;
constexpr uint32_t kVersion = 0x00010000;
constexpr uint32_t kDefaultBlockSize = 2 * 1024 * 1024;
// Hyper-V and the spec use 2 MiB; anything beyond this is treated as corrupt.
constexpr uint32_t kMaxBlockSize = 256 * 1024 * 1024;
// The VHD format's ceiling (2040 GiB), as enforced by qemu and Hyper-V.
constexpr uint64_t kMaxVirtualSize = 2040ull * 1024 * 1024 * 1024;

enum class DiskType : uint32_t { kFixed = 2, kDynamic = 3, kDifferencing = 4 };

struct Geometry {
  uint16_t cylinders = 0;
  uint8_t heads = 0;
  uint8_t sectors_per_track = 0;
  uint64_t TotalSectors() const { return uint64_t{cylinders} * heads * sectors_per_track; }
  bool operator==(const Geometry&) const = default;
};

// The CHS geometry algorithm from the VHD specification, appendix.
Geometry GeometryForSize(uint64_t size_bytes);

struct Footer {
  uint32_t features = 2;  // bit 1 is reserved and always set
  uint32_t version = kVersion;
  uint64_t data_offset = kNoDataOffset;
  uint32_t timestamp = 0;  // seconds since 2000-01-01 00:00:00 UTC
  std::array<char, 4> creator_app{};
  uint32_t creator_version = 0;
  uint32_t creator_host_os = 0;
  uint64_t original_size = 0;
  uint64_t current_size = 0;
  Geometry geometry;
  DiskType disk_type = DiskType::kFixed;
  uint32_t checksum = 0;  // as stored; Encode recomputes it
  std::array<uint8_t, 16> unique_id{};
  uint8_t saved_state = 0;
};

// Validates cookie, checksum, version and disk type; messages name the field
// ("footer: checksum 0x... does not match computed 0x..."). The caller adds
// the file and offset.
Result<Footer> DecodeFooter(std::span<const uint8_t, kFooterSize> bytes);
std::array<uint8_t, kFooterSize> EncodeFooter(const Footer& footer);

struct DynamicHeader {
  uint64_t data_offset = kNoDataOffset;
  uint64_t table_offset = 0;
  uint32_t header_version = kVersion;
  uint32_t max_table_entries = 0;
  uint32_t block_size = kDefaultBlockSize;
  uint32_t checksum = 0;
  std::array<uint8_t, 16> parent_unique_id{};
  uint32_t parent_timestamp = 0;
};

// Validates cookie, checksum, version and block size.
Result<DynamicHeader> DecodeDynamicHeader(std::span<const uint8_t, kDynamicHeaderSize> bytes);
std::array<uint8_t, kDynamicHeaderSize> EncodeDynamicHeader(const DynamicHeader& header);

// One's complement of the byte sum, skipping the 4 checksum bytes at `at`.
uint32_t Checksum(std::span<const uint8_t> bytes, size_t at);

// Bytes of sector bitmap before each block's data (rounded up to a sector).
uint64_t BitmapBytes(uint32_t block_size);

// A VHD opened for reading. Open validates the whole metadata up front (both
// footers, header, every BAT entry against the file and against each other),
// so reads afterwards cannot walk off the file.
class VhdImage : public Image {
 public:
  static Result<std::unique_ptr<VhdImage>> Open(std::unique_ptr<File> file);

  const std::string& path() const override { return file_->path(); }
  ContainerKind kind() const override;
  uint64_t virtual_size() const override { return footer_.current_size; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) override;
  Result<std::vector<Extent>> AllocatedExtents() override;
  std::vector<std::string> Warnings() const override { return warnings_; }

  const Footer& footer() const { return footer_; }
  const DynamicHeader& dynamic_header() const { return header_; }
  // Dynamic only: number of allocated blocks.
  uint64_t AllocatedBlocks() const;

 private:
  explicit VhdImage(std::unique_ptr<File> file) : file_(std::move(file)) {}
  Status OpenFixed(uint64_t file_size);
  Status OpenDynamic(uint64_t file_size);
  // The steps of OpenDynamic, each validating what it reads; offsets are of
  // the file. The footer copy and the footer at the end must agree.
  Status ReadDynamicFooters(uint64_t eof_at);
  Status ReadDynamicHeader(uint64_t hdr_at, uint64_t eof_at);
  Status ReadBat(uint64_t hdr_at, uint64_t eof_at, uint64_t bat_bytes);
  // Every allocated block lies in the file, clear of the metadata and of each other.
  Status CheckBlocks(uint64_t hdr_at, uint64_t eof_at, uint64_t bat_bytes) const;
  Status ReadBlock(uint64_t block, uint64_t in_block, std::span<uint8_t> buf);

  std::unique_ptr<File> file_;
  Footer footer_;
  DynamicHeader header_;
  std::vector<uint32_t> bat_;
  std::vector<std::string> warnings_;
  // Cache of the last block's sector bitmap (reads are mostly sequential).
  uint64_t cached_bitmap_block_ = UINT64_MAX;
  std::vector<uint8_t> bitmap_;
};

}  // namespace vhdcrypt::vhd
