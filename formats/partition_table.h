// Partition tables of a virtual disk: MBR (with logical partitions in an
// extended partition's EBR chain) and GPT. Sector size is 512 throughout;
// 4K-sector GPT disks are refused with a message saying so.
//
// Detection (ReadPartitionTable):
//   - no 0x55AA at offset 510 -> kNone (an unpartitioned disk, e.g. a
//     filesystem written straight onto the disk), unless LBA 1 holds a GPT
//     header, which is an error: a GPT disk must carry a protective MBR.
//   - a FAT/exFAT/NTFS boot sector at LBA 0 (it carries 0x55AA too) -> kNone,
//     as libblkid does: its bytes 446..509 are boot code, not partitions.
//   - any primary entry of type 0xEE -> GPT (hybrid MBRs are read as GPT).
//   - otherwise MBR.
// Every structure is validated completely before anything is returned, and
// every error is kInvalidInput with a message of the form
//   "<image path>: <structure> (offset ...): <field> <value> <what is wrong>".
// Field names follow the UEFI specification (my_lba, first_usable_lba, ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"

namespace vhdcrypt {

constexpr uint64_t kSectorSize = 512;

struct Partition {
  uint32_t number = 0;      // 1-based: MBR primary 1-4, logical 5+; GPT entry index + 1
  uint64_t start = 0;       // bytes
  uint64_t size = 0;        // bytes
  std::string type;         // MBR: "0x83"; GPT: type GUID, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
  std::string type_name;    // "Linux filesystem", "EFI System", "Linux", ... or "" if unknown
  std::string name;         // GPT partition name (UTF-8); "" for MBR
  std::string uuid;         // GPT unique partition GUID; "" for MBR
  bool bootable = false;    // MBR boot indicator 0x80
  uint64_t attributes = 0;  // GPT attribute bits

  uint64_t first_sector() const { return start / kSectorSize; }
  uint64_t end() const { return start + size; }  // bytes, exclusive
  bool operator==(const Partition&) const = default;
};

enum class TableKind { kNone, kMbr, kGpt };
const char* TableKindName(TableKind kind);  // "none", "mbr", "gpt"

struct PartitionTable {
  TableKind kind = TableKind::kNone;
  // MBR: disk signature as "0x%08x"; GPT: disk GUID (uppercase); none: "".
  std::string disk_id;
  // MBR: primaries (the extended one included) in entry order, then logicals
  // in chain order. GPT: used entries in entry order.
  std::vector<Partition> partitions;
};

// Reads and fully validates the partition table of `disk`.
Result<PartitionTable> ReadPartitionTable(Image& disk);

// A blob the encoders want written at a byte offset of the virtual disk. The
// encoders are pure; the caller writes the blobs (in any order).
struct DiskWrite {
  uint64_t offset = 0;
  std::vector<uint8_t> bytes;
};

}  // namespace vhdcrypt
