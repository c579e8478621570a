#include "formats/mbr.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "formats/endian.h"

namespace vhdcrypt {
namespace {

struct RawMbrEntry {
  uint8_t boot_indicator;
  uint8_t starting_chs[3];
  uint8_t os_type;
  uint8_t ending_chs[3];
  ul32 starting_lba;
  ul32 size_in_lba;
};
static_assert(sizeof(RawMbrEntry) == 16);

struct RawMbr {
  uint8_t boot_code[kMbrBootCodeSize];
  ul32 disk_signature;
  ul16 reserved;
  RawMbrEntry entries[4];
  uint8_t signature[2];
};
static_assert(sizeof(RawMbr) == kSectorSize);
static_assert(offsetof(RawMbr, entries) == kMbrEntriesAt);
static_assert(offsetof(RawMbr, signature) == kMbrSignatureAt);

std::string Hex8(uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return buf;
}

std::string Range(uint64_t first, uint64_t end) { return std::to_string(first) + "-" + std::to_string(end - 1); }

// Byte offset of entry `index` in the MBR/EBR at `lba`, for messages.
std::string EntryOffset(uint64_t lba, size_t index) {
  return FormatOffset(lba * kSectorSize + kMbrEntriesAt + 16 * index);
}

Status CheckBootIndicator(const std::string& what, const MbrEntry& e, uint64_t lba, size_t index) {
  if (e.boot_indicator == 0x00 || e.boot_indicator == 0x80) return {};
  return InvalidInput(what + ": boot_indicator " + Hex8(e.boot_indicator) + " at offset " + EntryOffset(lba, index) +
                      " is invalid (expected 0x00 or 0x80)");
}

Partition MakePartition(uint32_t number, const MbrEntry& e, uint64_t first_sector) {
  Partition p;
  p.number = number;
  p.start = first_sector * kSectorSize;
  p.size = uint64_t{e.size_in_lba} * kSectorSize;
  p.type = MbrTypeText(e.os_type);
  p.type_name = MbrTypeName(e.os_type);
  p.bootable = e.boot_indicator == 0x80;
  return p;
}

// The first of `others` that shares a sector with [first, end), or nullptr.
const Partition* FindOverlap(const std::vector<Partition>& others, uint64_t first, uint64_t end) {
  for (const auto& o : others) {
    if (first < o.end() / kSectorSize && o.first_sector() < end) return &o;
  }
  return nullptr;
}

// "MBR partition 2: starts at sector 4096 but overlaps partition 1 (sectors 2048-8191)"
std::string OverlapMessage(const std::string& label, uint32_t number, uint64_t first, const Partition& other) {
  return label + " " + std::to_string(number) + ": starts at sector " + std::to_string(first) +
         " but overlaps partition " + std::to_string(other.number) + " (sectors " +
         Range(other.first_sector(), other.end() / kSectorSize) + ")";
}

// The extended partition an EBR chain lies in, for the messages.
struct ExtendedArea {
  std::string path;
  uint64_t first = 0;  // sectors
  uint64_t end = 0;
  std::string text;  // "extended partition 2 (sectors ...)"
};

// Entry 0 of the EBR at `ebr`, a used entry: logical partition `number`.
Result<Partition> LogicalPartition(const ExtendedArea& ext, const std::string& where, uint64_t ebr, uint32_t number,
                                   const MbrEntry& part, const std::vector<Partition>& logicals) {
  const std::string what = ext.path + ": MBR partition " + std::to_string(number);
  if (IsExtendedType(part.os_type)) {
    return InvalidInput(where + ": entry 0: os_type " + Hex8(part.os_type) + " at offset " + EntryOffset(ebr, 0) +
                        " is an extended type (expected a logical partition)");
  }
  if (part.size_in_lba == 0) {
    return InvalidInput(what + ": os_type " + Hex8(part.os_type) + " with size_in_lba 0 at offset " +
                        EntryOffset(ebr, 0) + " (expected a non-zero size for a used entry)");
  }
  if (part.starting_lba == 0) {
    return InvalidInput(what + ": starting_lba 0 at offset " + EntryOffset(ebr, 0) +
                        " points at its own EBR (expected 1 or more, relative to the EBR)");
  }
  const uint64_t first = ebr + part.starting_lba;
  const uint64_t end = first + part.size_in_lba;
  if (end > ext.end) {
    return InvalidInput(what + ": sectors " + Range(first, end) + " (starting_lba " +
                        std::to_string(part.starting_lba) + " relative to the EBR at sector " + std::to_string(ebr) +
                        ") lie outside " + ext.text);
  }
  if (const Partition* o = FindOverlap(logicals, first, end)) {
    return InvalidInput(ext.path + ": " + OverlapMessage("MBR partition", number, first, *o));
  }
  return MakePartition(number, part, first);
}

// Entry 1 of the EBR at `ebr`: the next EBR's sector, or 0 at the end of the
// chain (no EBR lies at sector 0: primary entries starting there are refused).
Result<uint64_t> NextEbr(const ExtendedArea& ext, const std::string& where, uint64_t ebr, const MbrEntry& link,
                         const std::vector<uint64_t>& ebrs) {
  if (link.os_type == 0) return uint64_t{0};
  if (!IsExtendedType(link.os_type)) {
    return InvalidInput(where + ": entry 1: os_type " + Hex8(link.os_type) + " at offset " + EntryOffset(ebr, 1) +
                        " is not a link (expected 0x05, 0x0f or 0x85 to the next EBR, or 0 to end the chain)");
  }
  const uint64_t next = ext.first + link.starting_lba;
  if (next >= ext.end) {
    return InvalidInput(where + ": entry 1: next EBR at sector " + std::to_string(next) + " (starting_lba " +
                        std::to_string(link.starting_lba) + " at offset " + EntryOffset(ebr, 1) +
                        ", relative to the extended partition) lies outside " + ext.text);
  }
  if (std::find(ebrs.begin(), ebrs.end(), next) != ebrs.end()) {
    return InvalidInput(where + ": entry 1: next EBR at sector " + std::to_string(next) + " (starting_lba " +
                        std::to_string(link.starting_lba) + " at offset " + EntryOffset(ebr, 1) +
                        ") loops back to an earlier EBR of the chain (expected a new sector)");
  }
  return next;
}

// A logical partition covering an EBR would be corrupted by the table (or
// corrupt it) on the first write.
Status RefuseEbrsInsideLogicals(const std::string& path, const std::vector<Partition>& logicals,
                                const std::vector<uint64_t>& ebrs) {
  for (const auto& p : logicals) {
    for (uint64_t e : ebrs) {
      if (e >= p.first_sector() && e < p.end() / kSectorSize) {
        return InvalidInput(path + ": MBR partition " + std::to_string(p.number) + ": sectors " +
                            Range(p.first_sector(), p.end() / kSectorSize) + " contain the EBR at sector " +
                            std::to_string(e));
      }
    }
  }
  return {};
}

// Follows the EBR chain inside `ext` (already checked to lie on the disk).
Result<std::vector<Partition>> ReadLogicalPartitions(Image& disk, const Partition& ext_part) {
  ExtendedArea ext{disk.path(), ext_part.first_sector(), ext_part.end() / kSectorSize, ""};
  ext.text = "extended partition " + std::to_string(ext_part.number) + " (sectors " + Range(ext.first, ext.end) + ")";
  std::vector<Partition> logicals;
  std::vector<uint64_t> ebrs;
  uint32_t number = 5;
  for (uint64_t ebr = ext.first; ebr != 0;) {
    // Bounds both the reads and the memory a hostile chain can cost.
    if (ebrs.size() >= kMaxLogicalPartitions) {
      return InvalidInput(ext.path + ": " + ext.text + ": EBR chain longer than " +
                          std::to_string(kMaxLogicalPartitions) + " (expected at most " +
                          std::to_string(kMaxLogicalPartitions) + " logical partitions)");
    }
    ebrs.push_back(ebr);
    const std::string where =
        ext.path + ": EBR at sector " + std::to_string(ebr) + " (offset " + FormatOffset(ebr * kSectorSize) + ")";
    std::array<uint8_t, kSectorSize> sector;
    RETURN_IF_ERROR(disk.ReadAt(ebr * kSectorSize, sector));
    auto decoded = DecodeMbr(sector);
    if (!decoded.ok()) return decoded.error().Context(where);
    for (size_t i = 0; i < 2; ++i) {
      auto s = CheckBootIndicator("entry " + std::to_string(i), decoded->entries[i], ebr, i);
      if (!s.ok()) return s.error().Context(where);
    }
    // An empty entry 0 is legal: an extended partition with no logicals.
    if (decoded->entries[0].os_type != 0) {
      ASSIGN_OR_RETURN(Partition p, LogicalPartition(ext, where, ebr, number++, decoded->entries[0], logicals));
      logicals.push_back(std::move(p));
    }
    ASSIGN_OR_RETURN(ebr, NextEbr(ext, where, ebr, decoded->entries[1], ebrs));
  }
  RETURN_IF_ERROR(RefuseEbrsInsideLogicals(ext.path, logicals, ebrs));
  return logicals;
}

}  // namespace

bool HasBootSignature(std::span<const uint8_t, kSectorSize> sector) {
  return sector[kMbrSignatureAt] == 0x55 && sector[kMbrSignatureAt + 1] == 0xAA;
}

bool LooksLikeFilesystemBootSector(std::span<const uint8_t, kSectorSize> s) {
  const bool jump = (s[0] == 0xEB && s[2] == 0x90) || s[0] == 0xE9;
  if (!jump) return false;
  auto at = [&](size_t off, const char* text) { return std::memcmp(s.data() + off, text, std::strlen(text)) == 0; };
  if (at(3, "NTFS    ") || at(3, "EXFAT   ")) return true;
  // FAT: a plausible BPB and a filesystem type string where FAT12/16 or FAT32 keep it.
  const uint16_t bytes_per_sector = static_cast<uint16_t>(s[11] | s[12] << 8);
  const uint8_t per_cluster = s[13];
  const uint8_t fats = s[16];
  const bool bpb =
      (bytes_per_sector == 512 || bytes_per_sector == 1024 || bytes_per_sector == 2048 || bytes_per_sector == 4096) &&
      IsPowerOfTwo(per_cluster) && (fats == 1 || fats == 2);
  return bpb && (at(0x36, "FAT") || at(0x52, "FAT32"));
}

Result<Mbr> DecodeMbr(std::span<const uint8_t, kSectorSize> sector) {
  RawMbr raw;
  std::memcpy(&raw, sector.data(), sizeof raw);
  if (!HasBootSignature(sector)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "boot signature 0x%02x%02x at offset %s is not 0x55aa", raw.signature[0],
                  raw.signature[1], FormatOffset(kMbrSignatureAt).c_str());
    return InvalidInput(buf);
  }
  Mbr m;
  std::memcpy(m.boot_code.data(), raw.boot_code, kMbrBootCodeSize);
  m.disk_signature = raw.disk_signature;
  for (size_t i = 0; i < 4; ++i) {
    const RawMbrEntry& r = raw.entries[i];
    m.entries[i] = MbrEntry{r.boot_indicator, r.os_type, r.starting_lba, r.size_in_lba};
  }
  return m;
}

bool IsExtendedType(uint8_t t) { return t == 0x05 || t == 0x0F || t == 0x85; }

const char* MbrTypeName(uint8_t t) {
  switch (t) {
    case 0x01: return "FAT12";
    case 0x04: return "FAT16 <32M";
    case 0x05: return "Extended";
    case 0x06: return "FAT16";
    case 0x07: return "HPFS/NTFS/exFAT";
    case 0x0B: return "W95 FAT32";
    case 0x0C: return "W95 FAT32 (LBA)";
    case 0x0E: return "W95 FAT16 (LBA)";
    case 0x0F: return "W95 Ext'd (LBA)";
    case 0x27: return "Hidden NTFS WinRE";
    case 0x82: return "Linux swap / Solaris";
    case 0x83: return "Linux";
    case 0x85: return "Linux extended";
    case 0x8E: return "Linux LVM";
    case 0xA5: return "FreeBSD";
    case 0xA6: return "OpenBSD";
    case 0xA9: return "NetBSD";
    case 0xEE: return "GPT";
    case 0xEF: return "EFI (FAT-12/16/32)";
    case 0xFD: return "Linux raid autodetect";
  }
  return "";
}

std::string MbrTypeText(uint8_t t) { return Hex8(t); }

std::optional<uint8_t> MbrTypeFromText(std::string_view text) {
  if (text.size() != 4 || text.substr(0, 2) != "0x") return std::nullopt;
  unsigned v = 0;
  for (char c : text.substr(2)) {
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<unsigned>(d);
  }
  return static_cast<uint8_t>(v);
}

Result<std::vector<Partition>> MbrPrimaryPartitions(const Mbr& mbr, uint64_t disk_sectors) {
  for (size_t i = 0; i < 4; ++i) {
    RETURN_IF_ERROR(CheckBootIndicator("MBR partition " + std::to_string(i + 1), mbr.entries[i], 0, i));
  }
  std::vector<Partition> out;
  uint32_t extended = 0;  // number of the extended partition, 0 if none yet
  for (size_t i = 0; i < 4; ++i) {
    const MbrEntry& e = mbr.entries[i];
    const uint32_t n = static_cast<uint32_t>(i + 1);
    const std::string what = "MBR partition " + std::to_string(n);
    if (e.os_type == 0) continue;
    if (e.size_in_lba == 0) {
      return InvalidInput(what + ": os_type " + Hex8(e.os_type) + " with size_in_lba 0 at offset " + EntryOffset(0, i) +
                          " (expected a non-zero size for a used entry)");
    }
    if (e.starting_lba == 0) {
      return InvalidInput(what + ": starting_lba 0 at offset " + EntryOffset(0, i) +
                          " overlaps the MBR itself (expected 1 or more)");
    }
    const uint64_t first = e.starting_lba;
    const uint64_t end = first + e.size_in_lba;  // cannot overflow: both are 32-bit
    if (end > disk_sectors) {
      return InvalidInput(what + ": ends at sector " + std::to_string(end - 1) + " (starting_lba " +
                          std::to_string(first) + " + size_in_lba " + std::to_string(e.size_in_lba) + " at offset " +
                          EntryOffset(0, i) + "), past the end of the disk (last sector " +
                          std::to_string(disk_sectors - 1) + ")");
    }
    if (const Partition* o = FindOverlap(out, first, end)) {
      return InvalidInput(OverlapMessage("MBR partition", n, first, *o));
    }
    out.push_back(MakePartition(n, e, first));
    if (IsExtendedType(e.os_type)) {
      if (extended != 0) {
        return InvalidInput(what + ": a second extended partition (os_type " + Hex8(e.os_type) + "; partition " +
                            std::to_string(extended) + " is one already; expected at most one)");
      }
      extended = n;
    }
  }
  return out;
}

Result<PartitionTable> ReadMbrTable(Image& disk, std::span<const uint8_t, kSectorSize> sector0) {
  const std::string& path = disk.path();
  auto mbr = DecodeMbr(sector0);
  if (!mbr.ok()) return mbr.error().Context(path + ": MBR at LBA 0");
  auto primaries = MbrPrimaryPartitions(*mbr, disk.virtual_size() / kSectorSize);
  if (!primaries.ok()) return primaries.error().Context(path);

  PartitionTable table;
  table.kind = TableKind::kMbr;
  char id[16];
  std::snprintf(id, sizeof id, "0x%08x", mbr->disk_signature);
  table.disk_id = id;
  table.partitions = std::move(*primaries);
  for (size_t i = 0; i < 4; ++i) {
    if (!IsExtendedType(mbr->entries[i].os_type)) continue;
    auto ext = std::find_if(table.partitions.begin(), table.partitions.end(),
                            [&](const Partition& p) { return p.number == i + 1; });
    if (ext == table.partitions.end()) continue;
    ASSIGN_OR_RETURN(auto logicals, ReadLogicalPartitions(disk, *ext));
    table.partitions.insert(table.partitions.end(), logicals.begin(), logicals.end());
    break;  // MbrPrimaryPartitions allows only one
  }
  return table;
}

std::array<uint8_t, 3> LbaToChs(uint64_t lba) {
  constexpr uint64_t kHeads = 255, kSectors = 63;
  const uint64_t c = lba / (kHeads * kSectors);
  if (c > 1023) return {0xFE, 0xFF, 0xFF};
  const uint64_t h = (lba / kSectors) % kHeads;
  const uint64_t s = lba % kSectors + 1;
  return {static_cast<uint8_t>(h), static_cast<uint8_t>(s | ((c >> 2) & 0xC0)), static_cast<uint8_t>(c & 0xFF)};
}

std::array<uint8_t, kSectorSize> EncodeProtectiveMbr(const std::array<uint8_t, kMbrBootCodeSize>& boot_code,
                                                     uint64_t disk_sectors, bool bootable) {
  RawMbr raw{};
  std::memcpy(raw.boot_code, boot_code.data(), kMbrBootCodeSize);
  const uint64_t size = std::min<uint64_t>(disk_sectors > 0 ? disk_sectors - 1 : 0, 0xFFFFFFFF);
  RawMbrEntry& e = raw.entries[0];
  e.boot_indicator = bootable ? 0x80 : 0x00;
  e.os_type = kMbrTypeGptProtective;
  auto first = LbaToChs(1), last = LbaToChs(size);  // the last LBA covered is `size`
  // The spec asks for FF FF FF when the end is not representable.
  if (last == std::array<uint8_t, 3>{0xFE, 0xFF, 0xFF}) last = {0xFF, 0xFF, 0xFF};
  std::memcpy(e.starting_chs, first.data(), 3);
  std::memcpy(e.ending_chs, last.data(), 3);
  e.starting_lba = 1;
  e.size_in_lba = static_cast<uint32_t>(size);
  raw.signature[0] = 0x55;
  raw.signature[1] = 0xAA;
  std::array<uint8_t, kSectorSize> out;
  std::memcpy(out.data(), &raw, sizeof raw);
  return out;
}

Result<std::vector<DiskWrite>> EncodeMbr(const MbrLayout& layout, uint64_t disk_size) {
  if (disk_size == 0 || disk_size % kSectorSize != 0) {
    return InvalidInput("MBR layout: disk size " + std::to_string(disk_size) +
                        " is not a positive multiple of 512 bytes");
  }
  const uint64_t disk_sectors = disk_size / kSectorSize;
  if (layout.partitions.size() > 4) {
    return InvalidInput("MBR layout: " + std::to_string(layout.partitions.size()) +
                        " partitions (expected at most 4 primary partitions)");
  }
  RawMbr raw{};
  std::memcpy(raw.boot_code, layout.boot_code.data(), kMbrBootCodeSize);
  raw.disk_signature = layout.disk_signature;
  raw.signature[0] = 0x55;
  raw.signature[1] = 0xAA;

  std::vector<Partition> placed;  // for the overlap check
  bool used[4] = {};
  for (size_t i = 0; i < layout.partitions.size(); ++i) {
    const MbrPartitionSpec& s = layout.partitions[i];
    const uint32_t n = s.number != 0 ? s.number : static_cast<uint32_t>(i + 1);
    const std::string what = "MBR layout: partition " + std::to_string(n);
    if (n < 1 || n > 4) return InvalidInput(what + ": number out of range (expected 1-4)");
    if (used[n - 1]) return InvalidInput(what + ": number used twice");
    used[n - 1] = true;
    if (s.os_type == 0 || s.os_type == kMbrTypeGptProtective || IsExtendedType(s.os_type)) {
      return InvalidInput(what + ": os_type " + Hex8(s.os_type) +
                          " cannot be written here (expected a non-zero, non-extended, non-GPT type)");
    }
    if (s.size_in_lba == 0) return InvalidInput(what + ": size_in_lba is 0");
    if (s.starting_lba == 0) return InvalidInput(what + ": starting_lba 0 would overwrite the MBR");
    const uint64_t first = s.starting_lba;
    const uint64_t end = first + s.size_in_lba;
    if (end > disk_sectors) {
      return InvalidInput(what + ": ends at sector " + std::to_string(end - 1) +
                          ", past the end of the disk (last sector " + std::to_string(disk_sectors - 1) + ")");
    }
    if (const Partition* o = FindOverlap(placed, first, end)) {
      return InvalidInput(OverlapMessage("MBR layout: partition", n, first, *o));
    }
    MbrEntry e{static_cast<uint8_t>(s.bootable ? 0x80 : 0x00), s.os_type, s.starting_lba, s.size_in_lba};
    placed.push_back(MakePartition(n, e, first));

    RawMbrEntry& r = raw.entries[n - 1];
    r.boot_indicator = e.boot_indicator;
    r.os_type = e.os_type;
    auto chs_first = LbaToChs(first), chs_last = LbaToChs(end - 1);
    std::memcpy(r.starting_chs, chs_first.data(), 3);
    std::memcpy(r.ending_chs, chs_last.data(), 3);
    r.starting_lba = s.starting_lba;
    r.size_in_lba = s.size_in_lba;
  }
  DiskWrite w{0, std::vector<uint8_t>(kSectorSize)};
  std::memcpy(w.bytes.data(), &raw, sizeof raw);
  return std::vector<DiskWrite>{std::move(w)};
}

}  // namespace vhdcrypt
