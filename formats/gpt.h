// The GUID Partition Table (UEFI specification 2.10, chapter 5), 512-byte
// sectors, all integers little-endian.
//
// LBA 0          protective MBR: one entry of type 0xEE from LBA 1 over the disk
// LBA 1          primary header (92 bytes used, rest zero)
// LBA 2..33      primary entry array: 128 entries of 128 bytes (what we write)
// LBA 34..N-34   usable: partitions live here
// LBA N-33..N-2  backup entry array
// LBA N-1        backup header (my_lba and alternate_lba swapped)
//
// header_crc32 covers header_size bytes with the CRC field zeroed;
// partition_entry_array_crc32 covers num_partition_entries *
// size_of_partition_entry bytes. Both are zlib's crc32. A used entry has a
// non-zero type GUID; first_lba and last_lba are inclusive.
//
// Reading is strict: both headers and both arrays must be valid and agree.
// A tool that rewrites the table must not guess which copy is right.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/guid.h"
#include "formats/image.h"
#include "formats/mbr.h"
#include "formats/partition_table.h"

namespace vhdcrypt {

constexpr uint32_t kGptRevision = 0x00010000;
constexpr uint32_t kGptMinHeaderSize = 92;
// Bounds on hostile headers: the array is read in chunks, so these bound work,
// not memory (the spec allows more, nobody writes more than 128).
constexpr uint32_t kGptMaxEntries = 4096;
constexpr uint32_t kGptMaxEntrySize = 4096;
// What EncodeGpt writes (and every partitioning tool does).
constexpr uint32_t kGptEntrySize = 128;
constexpr uint32_t kGptNumEntries = 128;
constexpr uint64_t kGptArraySectors = kGptNumEntries * kGptEntrySize / kSectorSize;  // 32
constexpr uint64_t kGptFirstUsableLba = 2 + kGptArraySectors;                        // 34
// The last usable LBA EncodeGpt uses on a disk of disk_sectors sectors.
constexpr uint64_t GptLastUsableLba(uint64_t disk_sectors) { return disk_sectors - 2 - kGptArraySectors; }
constexpr size_t kGptNameUnits = 36;  // UTF-16 code units in an entry's name

// Well-known partition type GUIDs.
inline constexpr char kGptTypeEfiSystem[] = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
inline constexpr char kGptTypeBiosBoot[] = "21686148-6449-6E6F-744E-656564454649";
inline constexpr char kGptTypeLinuxFilesystem[] = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
inline constexpr char kGptTypeLinuxSwap[] = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";
inline constexpr char kGptTypeLinuxLvm[] = "E6D6D379-F507-44C2-A23C-238F2A3DF928";
inline constexpr char kGptTypeLinuxExtendedBoot[] = "BC13C2FF-59E6-4262-A352-B275FD6F7172";
inline constexpr char kGptTypeMicrosoftBasicData[] = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

// "EFI System", "Linux filesystem", ... or "" if unknown.
const char* GptTypeName(const Guid& type);

struct GptHeader {
  uint32_t revision = kGptRevision;
  uint32_t header_size = kGptMinHeaderSize;
  uint32_t header_crc32 = 0;  // as stored; EncodeGptHeader recomputes it
  uint32_t reserved = 0;
  uint64_t my_lba = 1;
  uint64_t alternate_lba = 0;
  uint64_t first_usable_lba = 0;
  uint64_t last_usable_lba = 0;
  Guid disk_guid;
  uint64_t partition_entry_lba = 2;
  uint32_t num_partition_entries = kGptNumEntries;
  uint32_t size_of_partition_entry = kGptEntrySize;
  uint32_t partition_entry_array_crc32 = 0;
};

// Checks what the sector alone can tell, in this order: signature, revision,
// header_size, header_crc32, reserved. Messages name the field and carry no
// prefix; the caller adds file and LBA.
Result<GptHeader> DecodeGptHeader(std::span<const uint8_t, kSectorSize> sector);
// Writes a 92-byte header into a zeroed sector and seals header_crc32.
std::array<uint8_t, kSectorSize> EncodeGptHeader(const GptHeader& header);

// Checks the header against a disk of disk_sectors sectors, in this order:
// my_lba, alternate_lba, first/last_usable_lba, num_partition_entries,
// size_of_partition_entry, partition_entry_lba (array inside the disk, clear
// of LBA 0, both headers and the usable range). Overflow-safe.
Status ValidateGptHeaderPlacement(const GptHeader& header, uint64_t disk_sectors, uint64_t expected_my_lba,
                                  uint64_t expected_alternate_lba);
// Sectors of the entry array (valid only after ValidateGptHeaderPlacement).
uint64_t GptEntryArraySectors(const GptHeader& header);
// The backup must describe the same table: disk_guid, usable range, entry
// geometry and partition_entry_array_crc32.
Status CheckGptBackupAgrees(const GptHeader& primary, const GptHeader& backup);

struct GptEntry {
  Guid type;  // zero: unused entry
  Guid unique;
  uint64_t first_lba = 0;
  uint64_t last_lba = 0;  // inclusive
  uint64_t attributes = 0;
  std::string name;  // UTF-8; unpaired surrogates decode to U+FFFD
};

// Decodes the first 128 bytes of an entry (larger entries carry extra
// bytes the spec reserves).
GptEntry DecodeGptEntry(std::span<const uint8_t, kGptEntrySize> bytes);
// Fails (kInvalidInput) when the name is not valid UTF-8 or needs more than
// 36 UTF-16 code units.
Result<std::array<uint8_t, kGptEntrySize>> EncodeGptEntry(const GptEntry& entry);

// Checks the used entries (entries[i] is partition i + 1) against the
// header's usable range and against each other; returns them as partitions.
Result<std::vector<Partition>> GptPartitions(const GptHeader& header, std::span<const GptEntry> entries);

// Reads both headers and both arrays and checks everything above. The caller
// has already seen a 0xEE entry in the MBR at LBA 0.
Result<PartitionTable> ReadGptTable(Image& disk);

// Writing.
struct GptPartitionSpec {
  uint32_t number = 0;  // 1-128 (entry index + 1); 0 means "position in the vector + 1"
  Guid type;
  Guid unique;
  uint64_t first_lba = 0;
  uint64_t last_lba = 0;  // inclusive
  uint64_t attributes = 0;
  std::string name;  // UTF-8, at most 36 UTF-16 code units
};

struct GptLayout {
  Guid disk_guid;
  std::vector<GptPartitionSpec> partitions;
  // Boot code of the protective MBR: keep GRUB's boot.img on BIOS-booted disks.
  std::array<uint8_t, kMbrBootCodeSize> boot_code{};
  // Some BIOSes boot only from a disk whose MBR has an active entry.
  bool protective_mbr_bootable = false;
};

// Returns the protective MBR (offset 0), the primary header and array
// (offset 512) and the backup array and header (the last 33 sectors), with
// 128 entries of 128 bytes and the usable range [34, N-34]. Refuses
// (kInvalidInput, "GPT layout: ...") a disk too small or not a multiple of
// 512, bad numbers, all-zero or repeated GUIDs, partitions outside the
// usable range or overlapping, and names that do not fit.
Result<std::vector<DiskWrite>> EncodeGpt(const GptLayout& layout, uint64_t disk_size);

}  // namespace vhdcrypt
