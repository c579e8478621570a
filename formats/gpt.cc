#include "formats/gpt.h"

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "formats/endian.h"

namespace vhdcrypt {
namespace {

struct RawGptHeader {
  char signature[8];
  ul32 revision;
  ul32 header_size;
  ul32 header_crc32;
  ul32 reserved;
  ul64 my_lba;
  ul64 alternate_lba;
  ul64 first_usable_lba;
  ul64 last_usable_lba;
  uint8_t disk_guid[16];
  ul64 partition_entry_lba;
  ul32 num_partition_entries;
  ul32 size_of_partition_entry;
  ul32 partition_entry_array_crc32;
};
static_assert(sizeof(RawGptHeader) == kGptMinHeaderSize);
constexpr size_t kHeaderCrcAt = offsetof(RawGptHeader, header_crc32);

struct RawGptEntry {
  uint8_t type_guid[16];
  uint8_t unique_guid[16];
  ul64 first_lba;
  ul64 last_lba;
  ul64 attributes;
  ul16 name[kGptNameUnits];
};
static_assert(sizeof(RawGptEntry) == kGptEntrySize);

constexpr char kSignature[8] = {'E', 'F', 'I', ' ', 'P', 'A', 'R', 'T'};
// Entry arrays are read and checksummed in pieces of about this size.
constexpr uint64_t kChunkBytes = 64 * 1024;

uint32_t Crc32(std::span<const uint8_t> bytes, uint32_t crc = 0) {
  return static_cast<uint32_t>(::crc32(crc, bytes.data(), static_cast<uInt>(bytes.size())));
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | cp >> 12);
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | cp >> 18);
    out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Names are NUL-terminated UTF-16LE (or fill all 36 units).
std::string DecodeName(const ul16* units, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t u = units[i];
    if (u == 0) break;
    uint32_t cp = u;
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < n && units[i + 1] >= 0xDC00 && units[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((u - 0xD800) << 10) + (units[i + 1] - 0xDC00u);
      ++i;
    } else if (u >= 0xD800 && u <= 0xDFFF) {
      cp = 0xFFFD;
    }
    AppendUtf8(out, cp);
  }
  return out;
}

// Strict UTF-8 (no overlongs, surrogates or NUL) to UTF-16 code units.
Result<std::vector<uint16_t>> EncodeName(const std::string& s) {
  auto bad = [&](const char* why) { return InvalidInput("name \"" + s.substr(0, 80) + "\" " + why); };
  std::vector<uint16_t> units;
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    uint32_t cp, min;
    size_t len;
    if (c < 0x80) {
      cp = c, min = 0, len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F, min = 0x80, len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F, min = 0x800, len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07, min = 0x10000, len = 4;
    } else {
      return bad("is not valid UTF-8");
    }
    if (len > s.size() - i) return bad("is not valid UTF-8");
    for (size_t k = 1; k < len; ++k) {
      const uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return bad("is not valid UTF-8");
      cp = cp << 6 | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad("is not valid UTF-8");
    if (cp == 0) return bad("contains a NUL character");
    if (cp >= 0x10000) {
      units.push_back(static_cast<uint16_t>(0xD800 + ((cp - 0x10000) >> 10)));
      units.push_back(static_cast<uint16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
    } else {
      units.push_back(static_cast<uint16_t>(cp));
    }
    i += len;
  }
  if (units.size() > kGptNameUnits) {
    return bad(("needs " + std::to_string(units.size()) + " UTF-16 code units (at most 36 fit)").c_str());
  }
  return units;
}

struct KnownType {
  const char* guid;
  const char* name;
};
constexpr KnownType kKnownTypes[] = {
    {kGptTypeEfiSystem, "EFI System"},
    {kGptTypeBiosBoot, "BIOS boot"},
    {kGptTypeLinuxFilesystem, "Linux filesystem"},
    {kGptTypeLinuxSwap, "Linux swap"},
    {kGptTypeLinuxLvm, "Linux LVM"},
    {kGptTypeLinuxExtendedBoot, "Linux extended boot"},
    {kGptTypeMicrosoftBasicData, "Microsoft basic data"},
    {"A19D880F-05FC-4D3B-A006-743F0F84911E", "Linux RAID"},
    {"933AC7E1-2EB4-4F13-B844-0E14E2AEF915", "Linux home"},
    {"3B8F8425-20E0-4F3B-907F-1A25A76F98E8", "Linux server data"},
    {"8DA63339-0007-60C0-C436-083AC8230908", "Linux reserved"},
    {"CA7D7CCB-63ED-4C53-861C-1742536059CC", "Linux LUKS"},
    {"7FFEC5C9-2D00-49B7-8941-3EA10A5586B7", "Linux plain dm-crypt"},
    {"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "Linux root (x86-64)"},
    {"44479540-F297-41B2-9AF7-D131D5F0458A", "Linux root (x86)"},
    {"B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "Linux root (ARM-64)"},
    {"E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "Microsoft reserved"},
    {"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC", "Windows recovery environment"},
    {"024DEE41-33E7-11D3-9D69-0008C781F39F", "MBR partition scheme"},
};

// Reads num_partition_entries entries in chunks, returning the CRC32 over
// them and, if `out` is given, the decoded entries.
Result<uint32_t> ScanEntryArray(Image& disk, const GptHeader& h, std::vector<GptEntry>* out) {
  const uint64_t size = h.size_of_partition_entry;
  const uint64_t per_chunk = std::max<uint64_t>(1, kChunkBytes / size);
  std::vector<uint8_t> buf(per_chunk * size);
  uint32_t crc = Crc32({});
  if (out != nullptr) out->reserve(h.num_partition_entries);
  for (uint64_t i = 0; i < h.num_partition_entries; i += per_chunk) {
    const uint64_t k = std::min<uint64_t>(per_chunk, h.num_partition_entries - i);
    std::span<uint8_t> chunk(buf.data(), k * size);
    RETURN_IF_ERROR(disk.ReadAt(h.partition_entry_lba * kSectorSize + i * size, chunk));
    crc = Crc32(chunk, crc);
    if (out == nullptr) continue;
    for (uint64_t j = 0; j < k; ++j) {
      out->push_back(DecodeGptEntry(std::span<const uint8_t, kGptEntrySize>(buf.data() + j * size, kGptEntrySize)));
    }
  }
  return crc;
}

// Reads, decodes and checks the header at `lba` and its entry array.
Result<GptHeader> ReadHeader(Image& disk, uint64_t lba, uint64_t expected_alternate, const std::string& where,
                             std::vector<GptEntry>* entries) {
  const uint64_t disk_sectors = disk.virtual_size() / kSectorSize;
  std::array<uint8_t, kSectorSize> sector;
  RETURN_IF_ERROR(disk.ReadAt(lba * kSectorSize, sector));
  auto h = DecodeGptHeader(sector);
  if (!h.ok()) {
    // A 4096-byte-sector GPT keeps its header at byte 4096: say so rather
    // than only "bad signature".
    std::array<uint8_t, kSectorSize> probe;
    if (lba == 1 && std::memcmp(sector.data(), kSignature, 8) != 0 && disk_sectors > 9 &&
        disk.ReadAt(4096, probe).ok() && std::memcmp(probe.data(), kSignature, 8) == 0) {
      return InvalidInput(where + ": " + h.error().message() +
                          " (a GPT header at offset 4096 suggests 4096-byte sectors, which are not supported)");
    }
    return h.error().Context(where);
  }
  auto placed = ValidateGptHeaderPlacement(*h, disk_sectors, lba, expected_alternate);
  if (!placed.ok()) return placed.error().Context(where);
  ASSIGN_OR_RETURN(uint32_t crc, ScanEntryArray(disk, *h, entries));
  if (crc != h->partition_entry_array_crc32) {
    return InvalidInput(where + ": partition_entry_array_crc32 " + Hex32(h->partition_entry_array_crc32) +
                        " does not match computed " + Hex32(crc) + " over the entry array at LBA " +
                        std::to_string(h->partition_entry_lba) + " (" + std::to_string(h->num_partition_entries) +
                        " entries of " + std::to_string(h->size_of_partition_entry) + " bytes)");
  }
  return h;
}

std::string Where(const char* which, uint64_t lba) {
  return std::string(which) + " at LBA " + std::to_string(lba) + " (offset " + FormatOffset(lba * kSectorSize) + ")";
}

}  // namespace

const char* GptTypeName(const Guid& type) {
  const std::string text = type.ToString();
  for (const auto& k : kKnownTypes) {
    if (text == k.guid) return k.name;
  }
  return "";
}

Result<GptHeader> DecodeGptHeader(std::span<const uint8_t, kSectorSize> sector) {
  RawGptHeader raw;
  std::memcpy(&raw, sector.data(), sizeof raw);
  if (std::memcmp(raw.signature, kSignature, 8) != 0) {
    return InvalidInput("signature " + QuotedBytes(raw.signature, 8) + " is not \"EFI PART\"");
  }
  if (raw.revision != kGptRevision) {
    return InvalidInput("revision " + Hex32(raw.revision) + " is not " + Hex32(kGptRevision));
  }
  const uint32_t header_size = raw.header_size;
  if (header_size < kGptMinHeaderSize || header_size > kSectorSize) {
    return InvalidInput("header_size " + std::to_string(header_size) + " is " +
                        (header_size < kGptMinHeaderSize ? "too small" : "larger than the sector") +
                        " (expected 92 to 512)");
  }
  std::array<uint8_t, kSectorSize> copy;
  std::memcpy(copy.data(), sector.data(), kSectorSize);
  std::memset(copy.data() + kHeaderCrcAt, 0, 4);
  const uint32_t computed = Crc32(std::span(copy).first(header_size));
  if (computed != raw.header_crc32) {
    return InvalidInput("header_crc32 " + Hex32(raw.header_crc32) + " does not match computed " + Hex32(computed));
  }
  if (raw.reserved != 0) return InvalidInput("reserved " + Hex32(raw.reserved) + " is not zero");

  GptHeader h;
  h.revision = raw.revision;
  h.header_size = header_size;
  h.header_crc32 = raw.header_crc32;
  h.reserved = raw.reserved;
  h.my_lba = raw.my_lba;
  h.alternate_lba = raw.alternate_lba;
  h.first_usable_lba = raw.first_usable_lba;
  h.last_usable_lba = raw.last_usable_lba;
  std::memcpy(h.disk_guid.bytes.data(), raw.disk_guid, 16);
  h.partition_entry_lba = raw.partition_entry_lba;
  h.num_partition_entries = raw.num_partition_entries;
  h.size_of_partition_entry = raw.size_of_partition_entry;
  h.partition_entry_array_crc32 = raw.partition_entry_array_crc32;
  return h;
}

std::array<uint8_t, kSectorSize> EncodeGptHeader(const GptHeader& h) {
  RawGptHeader raw{};
  std::memcpy(raw.signature, kSignature, 8);
  raw.revision = h.revision;
  raw.header_size = kGptMinHeaderSize;
  raw.reserved = h.reserved;
  raw.my_lba = h.my_lba;
  raw.alternate_lba = h.alternate_lba;
  raw.first_usable_lba = h.first_usable_lba;
  raw.last_usable_lba = h.last_usable_lba;
  std::memcpy(raw.disk_guid, h.disk_guid.bytes.data(), 16);
  raw.partition_entry_lba = h.partition_entry_lba;
  raw.num_partition_entries = h.num_partition_entries;
  raw.size_of_partition_entry = h.size_of_partition_entry;
  raw.partition_entry_array_crc32 = h.partition_entry_array_crc32;
  std::array<uint8_t, kSectorSize> out{};
  std::memcpy(out.data(), &raw, sizeof raw);
  const uint32_t crc = Crc32(std::span(out).first(kGptMinHeaderSize));
  for (size_t i = 0; i < 4; ++i) out[kHeaderCrcAt + i] = static_cast<uint8_t>(crc >> (8 * i));
  return out;
}

uint64_t GptEntryArraySectors(const GptHeader& h) {
  const uint64_t bytes = uint64_t{h.num_partition_entries} * h.size_of_partition_entry;  // < 2^64
  return bytes / kSectorSize + (bytes % kSectorSize != 0);
}

Status ValidateGptHeaderPlacement(const GptHeader& h, uint64_t disk_sectors, uint64_t expected_my_lba,
                                  uint64_t expected_alternate_lba) {
  const uint64_t n = disk_sectors;
  if (n < 3) {
    return InvalidInput("the disk has " + std::to_string(n) + " sectors (expected at least 3 for a GPT)");
  }
  if (h.my_lba != expected_my_lba) {
    return InvalidInput("my_lba " + std::to_string(h.my_lba) + " is not " + std::to_string(expected_my_lba) +
                        ", the LBA the header was read from");
  }
  if (h.alternate_lba != expected_alternate_lba) {
    const bool primary = expected_alternate_lba == n - 1;
    // The usual cause: the image was grown after partitioning (common with
    // cloud disks), leaving the backup in the middle of the new disk.
    const char* hint = primary && h.alternate_lba < n - 1
                           ? "; if the disk was grown, `sgdisk -e` moves the backup GPT to its end"
                           : "";
    return InvalidInput("alternate_lba " + std::to_string(h.alternate_lba) + " is not " +
                        std::to_string(expected_alternate_lba) + " (" +
                        (primary ? "the last LBA of the disk" : "the primary header") + hint + ")");
  }
  const uint64_t lo = std::min(h.my_lba, h.alternate_lba), hi = std::max(h.my_lba, h.alternate_lba);
  const uint64_t first = h.first_usable_lba, last = h.last_usable_lba;
  if (first > last && first - last > 1) {
    return InvalidInput("first_usable_lba " + std::to_string(first) + " is greater than last_usable_lba " +
                        std::to_string(last) + " + 1");
  }
  if (last >= n) {
    return InvalidInput("last_usable_lba " + std::to_string(last) + " is past the end of the disk (last LBA " +
                        std::to_string(n - 1) + ")");
  }
  if (first <= lo) {
    return InvalidInput("first_usable_lba " + std::to_string(first) + " overlaps the GPT header at LBA " +
                        std::to_string(lo) + " (expected " + std::to_string(lo + 1) + " or more)");
  }
  if (last >= hi) {
    return InvalidInput("last_usable_lba " + std::to_string(last) + " overlaps the GPT header at LBA " +
                        std::to_string(hi) + " (expected " + std::to_string(hi - 1) + " or less)");
  }
  if (h.num_partition_entries > kGptMaxEntries) {
    return InvalidInput("num_partition_entries " + std::to_string(h.num_partition_entries) +
                        " exceeds the supported maximum " + std::to_string(kGptMaxEntries));
  }
  const uint32_t size = h.size_of_partition_entry;
  if (size < kGptEntrySize) {
    return InvalidInput("size_of_partition_entry " + std::to_string(size) + " is less than 128");
  }
  if (size > kGptMaxEntrySize) {
    return InvalidInput("size_of_partition_entry " + std::to_string(size) + " exceeds the supported maximum " +
                        std::to_string(kGptMaxEntrySize));
  }
  if (!IsPowerOfTwo(size)) {  // 128 * 2^k, and size >= 128 here
    return InvalidInput("size_of_partition_entry " + std::to_string(size) + " is not 128 times a power of two");
  }
  const uint64_t sectors = GptEntryArraySectors(h);
  const uint64_t at = h.partition_entry_lba;
  const std::string array = "partition_entry_lba " + std::to_string(at) + ": the entry array";
  if (at >= n || sectors > n - at) {
    return InvalidInput(array + " (" + std::to_string(sectors) +
                        " sectors) extends past the end of the disk (last LBA " + std::to_string(n - 1) + ")");
  }
  if (sectors == 0) return {};
  const uint64_t end = at + sectors;  // exclusive; <= n
  const std::string lbas = array + " (LBAs " + std::to_string(at) + "-" + std::to_string(end - 1) + ")";
  if (at == 0) return InvalidInput(lbas + " overlaps the protective MBR at LBA 0");
  for (uint64_t header : {lo, hi}) {
    if (header >= at && header < end) {
      return InvalidInput(lbas + " overlaps the GPT header at LBA " + std::to_string(header));
    }
  }
  if (first <= last && at <= last && first < end) {
    return InvalidInput(lbas + " overlaps the usable range (first_usable_lba " + std::to_string(first) +
                        " to last_usable_lba " + std::to_string(last) + ")");
  }
  return {};
}

Status CheckGptBackupAgrees(const GptHeader& p, const GptHeader& b) {
  auto differ = [](const char* field, const std::string& backup, const std::string& primary) {
    return InvalidInput(std::string(field) + " " + backup + " differs from the primary header's " + primary);
  };
  if (b.disk_guid != p.disk_guid) return differ("disk_guid", b.disk_guid.ToString(), p.disk_guid.ToString());
  if (b.first_usable_lba != p.first_usable_lba) {
    return differ("first_usable_lba", std::to_string(b.first_usable_lba), std::to_string(p.first_usable_lba));
  }
  if (b.last_usable_lba != p.last_usable_lba) {
    return differ("last_usable_lba", std::to_string(b.last_usable_lba), std::to_string(p.last_usable_lba));
  }
  if (b.num_partition_entries != p.num_partition_entries) {
    return differ("num_partition_entries", std::to_string(b.num_partition_entries),
                  std::to_string(p.num_partition_entries));
  }
  if (b.size_of_partition_entry != p.size_of_partition_entry) {
    return differ("size_of_partition_entry", std::to_string(b.size_of_partition_entry),
                  std::to_string(p.size_of_partition_entry));
  }
  if (b.partition_entry_array_crc32 != p.partition_entry_array_crc32) {
    return differ("partition_entry_array_crc32", Hex32(b.partition_entry_array_crc32),
                  Hex32(p.partition_entry_array_crc32));
  }
  return {};
}

GptEntry DecodeGptEntry(std::span<const uint8_t, kGptEntrySize> bytes) {
  RawGptEntry raw;
  std::memcpy(&raw, bytes.data(), sizeof raw);
  GptEntry e;
  std::memcpy(e.type.bytes.data(), raw.type_guid, 16);
  std::memcpy(e.unique.bytes.data(), raw.unique_guid, 16);
  e.first_lba = raw.first_lba;
  e.last_lba = raw.last_lba;
  e.attributes = raw.attributes;
  e.name = DecodeName(raw.name, kGptNameUnits);
  return e;
}

Result<std::array<uint8_t, kGptEntrySize>> EncodeGptEntry(const GptEntry& e) {
  ASSIGN_OR_RETURN(auto units, EncodeName(e.name));
  RawGptEntry raw{};
  std::memcpy(raw.type_guid, e.type.bytes.data(), 16);
  std::memcpy(raw.unique_guid, e.unique.bytes.data(), 16);
  raw.first_lba = e.first_lba;
  raw.last_lba = e.last_lba;
  raw.attributes = e.attributes;
  for (size_t i = 0; i < units.size(); ++i) raw.name[i] = units[i];
  std::array<uint8_t, kGptEntrySize> out;
  std::memcpy(out.data(), &raw, sizeof raw);
  return out;
}

Result<std::vector<Partition>> GptPartitions(const GptHeader& h, std::span<const GptEntry> entries) {
  std::vector<Partition> out;
  for (size_t i = 0; i < entries.size(); ++i) {
    const GptEntry& e = entries[i];
    if (e.type.IsZero()) continue;
    const uint32_t number = static_cast<uint32_t>(i + 1);
    const std::string what = "GPT partition " + std::to_string(number) + " (entry at offset " +
                             FormatOffset(h.partition_entry_lba * kSectorSize + i * h.size_of_partition_entry) + ")";
    if (e.first_lba > e.last_lba) {
      return InvalidInput(what + ": first_lba " + std::to_string(e.first_lba) + " is greater than last_lba " +
                          std::to_string(e.last_lba));
    }
    if (e.first_lba < h.first_usable_lba) {
      return InvalidInput(what + ": first_lba " + std::to_string(e.first_lba) + " is before first_usable_lba " +
                          std::to_string(h.first_usable_lba));
    }
    if (e.last_lba > h.last_usable_lba) {
      return InvalidInput(what + ": last_lba " + std::to_string(e.last_lba) + " is past last_usable_lba " +
                          std::to_string(h.last_usable_lba));
    }
    Partition p;
    p.number = number;
    p.start = e.first_lba * kSectorSize;
    p.size = (e.last_lba - e.first_lba + 1) * kSectorSize;
    p.type = e.type.ToString();
    p.type_name = GptTypeName(e.type);
    p.name = e.name;
    p.uuid = e.unique.ToString();
    p.attributes = e.attributes;
    out.push_back(std::move(p));
  }
  // Sorted by start, a partition overlaps an earlier one exactly when it
  // starts at or before the furthest end seen so far.
  std::vector<size_t> order(out.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return out[a].start != out[b].start ? out[a].start < out[b].start : out[a].number < out[b].number;
  });
  const Partition* furthest = nullptr;
  for (size_t idx : order) {
    const Partition& p = out[idx];
    if (furthest != nullptr && p.start < furthest->end()) {
      return InvalidInput("GPT partition " + std::to_string(p.number) + ": starts at LBA " +
                          std::to_string(p.first_sector()) + " but overlaps partition " +
                          std::to_string(furthest->number) + " (LBAs " + std::to_string(furthest->first_sector()) +
                          "-" + std::to_string(furthest->end() / kSectorSize - 1) + ")");
    }
    if (furthest == nullptr || p.end() > furthest->end()) furthest = &p;
  }
  return out;
}

Result<PartitionTable> ReadGptTable(Image& disk) {
  const std::string& path = disk.path();
  const uint64_t disk_sectors = disk.virtual_size() / kSectorSize;
  const std::string primary_where = path + ": " + Where("GPT header", 1);
  if (disk_sectors < 3) {
    return InvalidInput(primary_where + ": the disk has " + std::to_string(disk_sectors) +
                        " sectors (expected at least 3 for a GPT)");
  }
  std::vector<GptEntry> entries;
  ASSIGN_OR_RETURN(GptHeader primary, ReadHeader(disk, 1, disk_sectors - 1, primary_where, &entries));
  const uint64_t backup_lba = primary.alternate_lba;  // == disk_sectors - 1, checked
  const std::string backup_where = path + ": " + Where("backup GPT header", backup_lba);
  ASSIGN_OR_RETURN(GptHeader backup, ReadHeader(disk, backup_lba, 1, backup_where, nullptr));
  auto agree = CheckGptBackupAgrees(primary, backup);
  if (!agree.ok()) return agree.error().Context(backup_where);

  auto partitions = GptPartitions(primary, entries);
  if (!partitions.ok()) return partitions.error().Context(path);
  PartitionTable table;
  table.kind = TableKind::kGpt;
  table.disk_id = primary.disk_guid.ToString();
  table.partitions = std::move(*partitions);
  return table;
}

Result<std::vector<DiskWrite>> EncodeGpt(const GptLayout& layout, uint64_t disk_size) {
  constexpr uint64_t kMinSectors = 3 + 2 * kGptArraySectors;  // MBR, 2 headers, 2 arrays
  if (disk_size % kSectorSize != 0 || disk_size / kSectorSize < kMinSectors) {
    return InvalidInput("GPT layout: disk size " + std::to_string(disk_size) +
                        " bytes is not a multiple of 512 of at least " + std::to_string(kMinSectors) + " sectors");
  }
  const uint64_t n = disk_size / kSectorSize;
  // An all-zero GUID is what a forgotten field looks like; by-partuuid links
  // and crypttab/fstab PARTUUID= lines need unique ones.
  if (layout.disk_guid.IsZero()) return InvalidInput("GPT layout: disk GUID is all zeros");
  if (layout.partitions.size() > kGptNumEntries) {
    return InvalidInput("GPT layout: " + std::to_string(layout.partitions.size()) + " partitions (at most " +
                        std::to_string(kGptNumEntries) + " fit)");
  }
  std::vector<GptEntry> entries(kGptNumEntries);
  for (size_t i = 0; i < layout.partitions.size(); ++i) {
    const GptPartitionSpec& s = layout.partitions[i];
    const uint32_t number = s.number != 0 ? s.number : static_cast<uint32_t>(i + 1);
    const std::string what = "GPT layout: partition " + std::to_string(number);
    if (number < 1 || number > kGptNumEntries) return InvalidInput(what + ": number out of range (expected 1-128)");
    GptEntry& e = entries[number - 1];
    if (!e.type.IsZero()) return InvalidInput(what + ": number used twice");
    if (s.type.IsZero()) return InvalidInput(what + ": type GUID is all zeros (that marks an unused entry)");
    if (s.unique.IsZero()) return InvalidInput(what + ": unique GUID is all zeros");
    for (size_t j = 0; j < i; ++j) {
      if (layout.partitions[j].unique == s.unique) {
        return InvalidInput(what + ": unique GUID " + s.unique.ToString() + " is used by another partition too");
      }
    }
    e = GptEntry{s.type, s.unique, s.first_lba, s.last_lba, s.attributes, s.name};
  }

  GptHeader primary;
  primary.my_lba = 1;
  primary.alternate_lba = n - 1;
  primary.first_usable_lba = kGptFirstUsableLba;
  primary.last_usable_lba = GptLastUsableLba(n);
  primary.disk_guid = layout.disk_guid;
  primary.partition_entry_lba = 2;
  auto checked = GptPartitions(primary, entries);
  if (!checked.ok()) return checked.error().Context("GPT layout");

  std::vector<uint8_t> array(kGptNumEntries * kGptEntrySize);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].type.IsZero()) continue;
    auto raw = EncodeGptEntry(entries[i]);
    if (!raw.ok()) return raw.error().Context("GPT layout: partition " + std::to_string(i + 1));
    std::memcpy(array.data() + i * kGptEntrySize, raw->data(), kGptEntrySize);
  }
  primary.partition_entry_array_crc32 = Crc32(array);
  GptHeader backup = primary;
  backup.my_lba = n - 1;
  backup.alternate_lba = 1;
  backup.partition_entry_lba = n - 1 - kGptArraySectors;

  std::vector<DiskWrite> writes;
  auto pmbr = EncodeProtectiveMbr(layout.boot_code, n, layout.protective_mbr_bootable);
  writes.push_back({0, std::vector<uint8_t>(pmbr.begin(), pmbr.end())});
  auto head = EncodeGptHeader(primary);
  DiskWrite front{kSectorSize, std::vector<uint8_t>(head.begin(), head.end())};
  front.bytes.insert(front.bytes.end(), array.begin(), array.end());
  writes.push_back(std::move(front));
  auto tail = EncodeGptHeader(backup);
  DiskWrite back{backup.partition_entry_lba * kSectorSize, array};
  back.bytes.insert(back.bytes.end(), tail.begin(), tail.end());
  writes.push_back(std::move(back));
  return writes;
}

}  // namespace vhdcrypt
