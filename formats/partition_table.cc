#include "formats/partition_table.h"

#include <array>
#include <cstdio>
#include <cstring>

#include "formats/gpt.h"
#include "formats/mbr.h"

namespace vhdcrypt {

const char* TableKindName(TableKind kind) {
  switch (kind) {
    case TableKind::kNone: return "none";
    case TableKind::kMbr: return "mbr";
    case TableKind::kGpt: return "gpt";
  }
  return "unknown";
}

Result<PartitionTable> ReadPartitionTable(Image& disk) {
  const uint64_t disk_sectors = disk.virtual_size() / kSectorSize;
  if (disk_sectors == 0) return PartitionTable{};

  std::array<uint8_t, kSectorSize> sector0;
  RETURN_IF_ERROR(disk.ReadAt(0, sector0));
  bool gpt_at_lba1 = false;
  if (disk_sectors >= 2) {
    std::array<uint8_t, kSectorSize> sector1;
    RETURN_IF_ERROR(disk.ReadAt(kSectorSize, sector1));
    gpt_at_lba1 = std::memcmp(sector1.data(), "EFI PART", 8) == 0;
  }

  if (!HasBootSignature(sector0)) {
    // Without the protective MBR, legacy tools see free space and may
    // partition over the GPT: refuse rather than guess.
    if (gpt_at_lba1) {
      char found[8];
      std::snprintf(found, sizeof found, "%02x%02x", sector0[kMbrSignatureAt], sector0[kMbrSignatureAt + 1]);
      return InvalidInput(disk.path() + ": GPT header at LBA 1 but no protective MBR (boot signature 0x" + found +
                          " at offset " + FormatOffset(kMbrSignatureAt) + ", expected 0x55aa)");
    }
    return PartitionTable{};  // an unpartitioned disk
  }
  if (!gpt_at_lba1 && LooksLikeFilesystemBootSector(sector0)) return PartitionTable{};

  auto mbr = DecodeMbr(sector0);
  if (!mbr.ok()) return mbr.error().Context(disk.path() + ": MBR at LBA 0");
  for (const MbrEntry& e : mbr->entries) {
    if (e.os_type == kMbrTypeGptProtective) return ReadGptTable(disk);
  }
  return ReadMbrTable(disk, sector0);
}

}  // namespace vhdcrypt
