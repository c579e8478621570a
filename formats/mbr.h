// The DOS/MBR partition table (little-endian).
//
// LBA 0:  [ boot code 440 ][ disk signature 4 ][ 2 reserved ][ 4 x 16-byte entries ][ 0x55 0xAA ]
// entry:  [ boot_indicator ][ starting CHS 3 ][ os_type ][ ending CHS 3 ][ starting_lba 4 ][ size_in_lba 4 ]
//
// Logical partitions live in an extended partition (type 0x05, 0x0F or 0x85)
// as a chain of EBRs, each an MBR-shaped sector with two used entries:
//   entry 0: the logical partition, starting_lba relative to this EBR;
//   entry 1: the next EBR (type 0x05/0x0F/0x85), starting_lba relative to the
//            start of the extended partition; type 0 ends the chain.
// CHS fields are ignored on read (LBA is authoritative, as in Linux) and
// written with the 255-head, 63-sector geometry everyone uses today.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "formats/partition_table.h"

namespace vhdcrypt {

constexpr size_t kMbrBootCodeSize = 440;
constexpr size_t kMbrEntriesAt = 446;
constexpr size_t kMbrSignatureAt = 510;
constexpr uint8_t kMbrTypeGptProtective = 0xEE;
// A longer chain than this is treated as corrupt (Linux stops at 256 minors).
constexpr uint32_t kMaxLogicalPartitions = 128;

struct MbrEntry {
  uint8_t boot_indicator = 0;  // 0x80 bootable, 0x00 not; anything else is invalid
  uint8_t os_type = 0;         // 0 = unused
  uint32_t starting_lba = 0;
  uint32_t size_in_lba = 0;
  bool operator==(const MbrEntry&) const = default;
};

struct Mbr {
  std::array<uint8_t, kMbrBootCodeSize> boot_code{};
  uint32_t disk_signature = 0;
  std::array<MbrEntry, 4> entries{};
};

// True when bytes 510-511 are 0x55 0xAA.
bool HasBootSignature(std::span<const uint8_t, kSectorSize> sector);
// True for a FAT12/16/32, exFAT or NTFS boot sector: a filesystem written to
// the whole disk, whose 0x55AA does not announce a partition table.
bool LooksLikeFilesystemBootSector(std::span<const uint8_t, kSectorSize> sector);

// Decodes an MBR or EBR sector. Checks only the boot signature; the entries
// are validated against a disk by MbrPrimaryPartitions / ReadMbrTable.
Result<Mbr> DecodeMbr(std::span<const uint8_t, kSectorSize> sector);

bool IsExtendedType(uint8_t os_type);      // 0x05, 0x0F, 0x85
const char* MbrTypeName(uint8_t os_type);  // "Linux", "Linux swap / Solaris", ... or ""
std::string MbrTypeText(uint8_t os_type);  // "0x83"
// The inverse of MbrTypeText (Partition::type of an MBR partition); nullopt
// for anything MbrTypeText does not produce.
std::optional<uint8_t> MbrTypeFromText(std::string_view text);

// Validates the four primary entries against a disk of disk_sectors sectors
// (boot indicators, non-zero sizes, bounds, overlaps, at most one extended
// partition) and returns the used ones, the extended one included.
// Messages start with "MBR partition N: ".
Result<std::vector<Partition>> MbrPrimaryPartitions(const Mbr& mbr, uint64_t disk_sectors);

// Reads the whole MBR table given LBA 0 (already known to carry 0x55AA and
// no 0xEE entry), following the EBR chain of the extended partition.
Result<PartitionTable> ReadMbrTable(Image& disk, std::span<const uint8_t, kSectorSize> sector0);

// Writing: up to four primary partitions. Logical partitions are not written.
struct MbrPartitionSpec {
  uint32_t number = 0;  // 1-4; 0 means "position in MbrLayout::partitions + 1"
  uint8_t os_type = 0x83;
  bool bootable = false;
  uint32_t starting_lba = 0;
  uint32_t size_in_lba = 0;
};

struct MbrLayout {
  // Keep the existing boot code (e.g. GRUB's boot.img) when re-laying out.
  std::array<uint8_t, kMbrBootCodeSize> boot_code{};
  uint32_t disk_signature = 0;
  std::vector<MbrPartitionSpec> partitions;
};

// Returns the 512-byte sector 0. Refuses (kInvalidInput, "MBR layout: ...")
// more than 4 partitions, duplicate numbers, type 0, 0xEE or extended types,
// zero sizes, partitions at sector 0, past the disk, or overlapping.
// A stale GPT elsewhere on the disk is the caller's to erase.
Result<std::vector<DiskWrite>> EncodeMbr(const MbrLayout& layout, uint64_t disk_size);

// The protective MBR of a GPT disk: one 0xEE entry from LBA 1 to the end of
// the disk, capped at 0xFFFFFFFF sectors as the UEFI specification says.
std::array<uint8_t, kSectorSize> EncodeProtectiveMbr(const std::array<uint8_t, kMbrBootCodeSize>& boot_code,
                                                     uint64_t disk_sectors, bool bootable);

// The CHS triple of an LBA for a 255/63 geometry; beyond cylinder 1023 the
// conventional saturated value FE FF FF.
std::array<uint8_t, 3> LbaToChs(uint64_t lba);

}  // namespace vhdcrypt
