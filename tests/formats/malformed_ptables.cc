// Generators for malformed partition tables. Each starts from a valid disk,
// breaks one thing and re-seals the CRCs that protect it, so the reader gets
// past every earlier check and stops at the one under test.
#include "tests/formats/malformed_ptables.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "formats/gpt.h"
#include "formats/mbr.h"

namespace vhdcrypt::testing {
namespace {

using Bytes = std::vector<uint8_t>;
using Edit = std::function<void(Bytes&, size_t)>;

constexpr uint64_t kDiskSectors = 8192;
constexpr size_t kPrimary = 512;
constexpr size_t kBackup = (kDiskSectors - 1) * 512;
constexpr size_t kPrimaryArray = 2 * 512;
constexpr size_t kBackupArray = (kDiskSectors - 33) * 512;
constexpr size_t kArrayBytes = 128 * 128;

// GPT header fields (UEFI 2.10, table 5-5).
constexpr size_t kRevision = 8, kHeaderSize = 12, kHeaderCrc = 16, kReserved = 20, kMyLba = 24, kAlternateLba = 32,
                 kFirstUsable = 40, kLastUsable = 48, kDiskGuid = 56, kEntryLba = 72, kNumEntries = 80, kEntrySize = 84,
                 kArrayCrc = 88;
// GPT entry fields.
constexpr size_t kEntryFirst = 32, kEntryLast = 40, kEntryName = 56;

void Put32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void Put64(Bytes& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t Get32(const Bytes& b, size_t at) {
  return uint32_t{b[at]} | uint32_t{b[at + 1]} << 8 | uint32_t{b[at + 2]} << 16 | uint32_t{b[at + 3]} << 24;
}
uint32_t Crc(const uint8_t* p, size_t n) { return static_cast<uint32_t>(::crc32(0, p, static_cast<uInt>(n))); }

// Recomputes header_crc32 over header_size bytes (92 when that is invalid).
void SealHeader(Bytes& b, size_t at) {
  uint32_t size = Get32(b, at + kHeaderSize);
  if (size < 92 || size > 512) size = 92;
  Put32(b, at + kHeaderCrc, 0);
  Put32(b, at + kHeaderCrc, Crc(&b[at], size));
}
// Recomputes partition_entry_array_crc32 of a 128 x 128 array, then the header CRC.
void SealArray(Bytes& b, size_t header_at, size_t array_at) {
  Put32(b, header_at + kArrayCrc, Crc(&b[array_at], kArrayBytes));
  SealHeader(b, header_at);
}

void Apply(Bytes& disk, const std::vector<DiskWrite>& writes) {
  for (const auto& w : writes) std::memcpy(disk.data() + w.offset, w.bytes.data(), w.bytes.size());
}

// An MBR-shaped entry at `index` of the sector at `lba`.
void PutEntry(Bytes& b, uint64_t lba, size_t index, uint8_t boot, uint8_t type, uint32_t start, uint32_t size) {
  const size_t at = lba * 512 + kMbrEntriesAt + 16 * index;
  std::memset(&b[at], 0, 16);
  b[at] = boot;
  b[at + 4] = type;
  Put32(b, at + 8, start);
  Put32(b, at + 12, size);
}
void PutSignature(Bytes& b, uint64_t lba) {
  b[lba * 512 + 510] = 0x55;
  b[lba * 512 + 511] = 0xAA;
}

Bytes PrimaryWith(const Edit& edit, bool seal = true) {
  Bytes b = ValidGptDisk();
  edit(b, kPrimary);
  if (seal) SealHeader(b, kPrimary);
  return b;
}
Bytes BackupWith(const Edit& edit, bool seal = true) {
  Bytes b = ValidGptDisk();
  edit(b, kBackup);
  if (seal) SealHeader(b, kBackup);
  return b;
}
// Edits entry `index` identically in both arrays and re-seals everything, so
// the table is consistent and only the partition check can object.
Bytes EntryWith(size_t index, const Edit& edit) {
  Bytes b = ValidGptDisk();
  edit(b, kPrimaryArray + 128 * index);
  edit(b, kBackupArray + 128 * index);
  SealArray(b, kPrimary, kPrimaryArray);
  SealArray(b, kBackup, kBackupArray);
  return b;
}
Bytes MbrWith(const std::function<void(Bytes&)>& edit) {
  Bytes b = ValidMbrDisk();
  edit(b);
  return b;
}

std::string Hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}
// "header_crc32 0x<stored> does not match computed 0x<actual>" for the header at `at`.
std::string HeaderCrcMessage(const Bytes& b, size_t at) {
  Bytes h(b.begin() + static_cast<ptrdiff_t>(at), b.begin() + static_cast<ptrdiff_t>(at) + 92);
  Put32(h, kHeaderCrc, 0);
  return "header_crc32 " + Hex(Get32(b, at + kHeaderCrc)) + " does not match computed " + Hex(Crc(h.data(), 92));
}
std::string ArrayCrcMessage(const Bytes& b, size_t header_at, size_t array_at) {
  return "partition_entry_array_crc32 " + Hex(Get32(b, header_at + kArrayCrc)) + " does not match computed " +
         Hex(Crc(&b[array_at], kArrayBytes)) + " over the entry array at LBA " + std::to_string(array_at / 512) +
         " (128 entries of 128 bytes)";
}

const std::string kPrimaryAt = "GPT header at LBA 1 (offset 0x200 (512)): ";
const std::string kBackupAt = "backup GPT header at LBA 8191 (offset 0x3ffe00 (4193792)): ";

}  // namespace

std::vector<uint8_t> ValidGptDisk() {
  GptLayout layout;
  layout.disk_guid = GuidFromText("11111111-2222-3333-4444-555555555555");
  auto part = [](uint32_t n, const char* type, uint64_t first, uint64_t last, const char* name) {
    GptPartitionSpec s;
    s.number = n;
    s.type = GuidFromText(type);
    s.unique = GuidFromText("AAAAAAAA-0000-4000-8000-00000000000" + std::to_string(n));
    s.first_lba = first;
    s.last_lba = last;
    s.name = name;
    return s;
  };
  layout.partitions = {part(1, kGptTypeBiosBoot, 2048, 4095, "bios"),
                       part(2, kGptTypeEfiSystem, 4096, 6143, "EFI system"),
                       part(3, kGptTypeLinuxFilesystem, 6144, 8158, "root")};
  auto writes = EncodeGpt(layout, kDiskSectors * 512);
  if (!writes.ok()) std::abort();  // the generators' own bug
  Bytes disk(kDiskSectors * 512);
  Apply(disk, *writes);
  return disk;
}

std::vector<uint8_t> ValidMbrDisk() {
  MbrLayout layout;
  layout.disk_signature = 0x12345678;
  layout.partitions = {{1, 0x83, true, 2048, 2048}};
  auto writes = EncodeMbr(layout, kDiskSectors * 512);
  if (!writes.ok()) std::abort();
  Bytes disk(kDiskSectors * 512);
  Apply(disk, *writes);
  // EncodeMbr writes no extended partitions: add one with two logicals.
  PutEntry(disk, 0, 1, 0, 0x05, 4096, 4096);
  PutEntry(disk, 4096, 0, 0, 0x83, 1024, 1024);  // relative to this EBR: 5120
  PutEntry(disk, 4096, 1, 0, 0x05, 2048, 2048);  // relative to the extended partition: 6144
  PutSignature(disk, 4096);
  PutEntry(disk, 6144, 0, 0, 0x82, 1024, 1024);  // 7168
  PutSignature(disk, 6144);
  return disk;
}

std::vector<MalformedCase> MalformedPartitionTableCases() {
  std::vector<MalformedCase> c;
  auto add = [&](std::string name, Bytes image, std::string expect) {
    c.push_back({std::move(name), std::move(image), std::move(expect)});
  };
  // For cases whose message quotes values computed from the image.
  auto add_computed = [&](std::string name, Bytes image, const std::function<std::string(const Bytes&)>& expect) {
    std::string e = expect(image);
    add(std::move(name), std::move(image), std::move(e));
  };

  // --- GPT primary header: fields the sector alone can check, in order.
  add("gpt_signature", PrimaryWith([](Bytes& b, size_t at) { b[at + 7] = 'X'; }),
      kPrimaryAt + "signature \"EFI PARX\" is not \"EFI PART\"");
  add("gpt_revision", PrimaryWith([](Bytes& b, size_t at) { Put32(b, at + kRevision, 0x00020000); }),
      "revision 0x00020000 is not 0x00010000");
  add("gpt_header_size_small", PrimaryWith([](Bytes& b, size_t at) { Put32(b, at + kHeaderSize, 91); }),
      "header_size 91 is too small");
  add("gpt_header_size_big", PrimaryWith([](Bytes& b, size_t at) { Put32(b, at + kHeaderSize, 513); }),
      "header_size 513 is larger than the sector");
  add_computed("gpt_header_crc", PrimaryWith([](Bytes& b, size_t at) { b[at + kDiskGuid] ^= 1; }, false),
               [](const Bytes& b) { return kPrimaryAt + HeaderCrcMessage(b, kPrimary); });
  add("gpt_reserved", PrimaryWith([](Bytes& b, size_t at) { Put32(b, at + kReserved, 1); }),
      "reserved 0x00000001 is not zero");

  // --- GPT primary header against the disk.
  add("gpt_my_lba", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kMyLba, 2); }), "my_lba 2 is not 1");
  add("gpt_alternate_lba", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kAlternateLba, 8000); }),
      "alternate_lba 8000 is not 8191 (the last LBA of the disk; if the disk was grown");
  add("gpt_first_usable_after_last", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kFirstUsable, 8160); }),
      "first_usable_lba 8160 is greater than last_usable_lba 8158 + 1");
  add("gpt_last_usable_past_disk", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kLastUsable, 8192); }),
      "last_usable_lba 8192 is past the end of the disk");
  add("gpt_first_usable_on_header", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kFirstUsable, 1); }),
      "first_usable_lba 1 overlaps the GPT header at LBA 1");
  add("gpt_last_usable_on_backup", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kLastUsable, 8191); }),
      "last_usable_lba 8191 overlaps the GPT header at LBA 8191");
  add("gpt_num_entries_huge", PrimaryWith([](Bytes& b, size_t at) { Put32(b, at + kNumEntries, 0xFFFFFFFF); }),
      "num_partition_entries 4294967295 exceeds the supported maximum 4096");
  add("gpt_entry_size_zero", PrimaryWith([](Bytes& b, size_t at) { Put32(b, at + kEntrySize, 0); }),
      "size_of_partition_entry 0 is less than 128");
  add("gpt_entry_size_odd", PrimaryWith([](Bytes& b, size_t at) { Put32(b, at + kEntrySize, 200); }),
      "size_of_partition_entry 200 is not 128 times a power of two");
  add("gpt_entry_size_huge", PrimaryWith([](Bytes& b, size_t at) { Put32(b, at + kEntrySize, 0x80000000); }),
      "size_of_partition_entry 2147483648 exceeds the supported maximum 4096");
  add("gpt_entries_past_disk", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kEntryLba, 8180); }),
      "partition_entry_lba 8180: the entry array (32 sectors) extends past the end of the disk");
  // at + sectors would wrap around 2^64 if computed naively.
  add("gpt_entries_lba_wraps",
      PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kEntryLba, 0xFFFFFFFFFFFFFFF0ull); }),
      "partition_entry_lba 18446744073709551600: the entry array (32 sectors) extends past the end");
  add("gpt_entries_on_mbr", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kEntryLba, 0); }),
      "partition_entry_lba 0: the entry array (LBAs 0-31) overlaps the protective MBR");
  add("gpt_entries_on_header", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kEntryLba, 1); }),
      "partition_entry_lba 1: the entry array (LBAs 1-32) overlaps the GPT header at LBA 1");
  add("gpt_entries_in_usable", PrimaryWith([](Bytes& b, size_t at) { Put64(b, at + kEntryLba, 34); }),
      "partition_entry_lba 34: the entry array (LBAs 34-65) overlaps the usable range");
  add_computed(
      "gpt_entries_crc",
      [] {
        Bytes b = ValidGptDisk();
        b[kPrimaryArray + kEntryName] ^= 0x20;  // "bios" -> "Bios" without re-sealing
        return b;
      }(),
      [](const Bytes& b) { return kPrimaryAt + ArrayCrcMessage(b, kPrimary, kPrimaryArray); });

  // --- Backup header: the same checks at the other end, then agreement.
  add("gpt_backup_signature", BackupWith([](Bytes& b, size_t at) { std::memset(&b[at], 0, 8); }),
      kBackupAt + "signature \"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\" is not \"EFI PART\"");
  add_computed("gpt_backup_header_crc", BackupWith([](Bytes& b, size_t at) { b[at + kFirstUsable] ^= 4; }, false),
               [](const Bytes& b) { return kBackupAt + HeaderCrcMessage(b, kBackup); });
  add("gpt_backup_my_lba", BackupWith([](Bytes& b, size_t at) { Put64(b, at + kMyLba, 1); }),
      kBackupAt + "my_lba 1 is not 8191");
  add("gpt_backup_alternate_lba", BackupWith([](Bytes& b, size_t at) { Put64(b, at + kAlternateLba, 2); }),
      kBackupAt + "alternate_lba 2 is not 1 (the primary header)");
  add_computed(
      "gpt_backup_entries_crc",
      [] {
        Bytes b = ValidGptDisk();
        b[kBackupArray + kEntryName] ^= 0x20;
        return b;
      }(),
      [](const Bytes& b) { return kBackupAt + ArrayCrcMessage(b, kBackup, kBackupArray); });
  add("gpt_backup_disk_guid", BackupWith([](Bytes& b, size_t at) { b[at + kDiskGuid] = 0x99; }),
      kBackupAt +
          "disk_guid 11111199-2222-3333-4444-555555555555 differs from the primary header's "
          "11111111-2222-3333-4444-555555555555");
  add("gpt_backup_last_usable", BackupWith([](Bytes& b, size_t at) { Put64(b, at + kLastUsable, 8157); }),
      kBackupAt + "last_usable_lba 8157 differs from the primary header's 8158");
  add_computed(
      "gpt_backup_entries_differ",
      [] {
        Bytes b = ValidGptDisk();
        b[kBackupArray + kEntryName] ^= 0x20;  // a valid backup array with other contents
        SealArray(b, kBackup, kBackupArray);
        return b;
      }(),
      [](const Bytes& b) {
        return kBackupAt + "partition_entry_array_crc32 " + Hex(Get32(b, kBackup + kArrayCrc)) +
               " differs from the primary header's " + Hex(Get32(b, kPrimary + kArrayCrc));
      });

  // --- Partition entries (both arrays edited alike).
  add("gpt_partition_past_last_usable", EntryWith(2, [](Bytes& b, size_t at) { Put64(b, at + kEntryLast, 8159); }),
      "GPT partition 3 (entry at offset 0x500 (1280)): last_lba 8159 is past last_usable_lba 8158");
  add("gpt_partition_before_first_usable", EntryWith(0, [](Bytes& b, size_t at) { Put64(b, at + kEntryFirst, 33); }),
      "GPT partition 1 (entry at offset 0x400 (1024)): first_lba 33 is before first_usable_lba 34");
  add("gpt_partition_first_after_last",
      EntryWith(1,
                [](Bytes& b, size_t at) {
                  Put64(b, at + kEntryFirst, 6000);
                  Put64(b, at + kEntryLast, 5000);
                }),
      "GPT partition 2 (entry at offset 0x480 (1152)): first_lba 6000 is greater than last_lba 5000");
  add("gpt_partitions_overlap", EntryWith(1, [](Bytes& b, size_t at) { Put64(b, at + kEntryFirst, 4000); }),
      "GPT partition 2: starts at LBA 4000 but overlaps partition 1 (LBAs 2048-4095)");

  // --- Protective MBR.
  add(
      "gpt_no_protective_mbr",
      [] {
        Bytes b = ValidGptDisk();
        b[510] = b[511] = 0;
        return b;
      }(),
      "GPT header at LBA 1 but no protective MBR");
  add(
      "gpt_4k_sectors",
      [] {
        Bytes b = ValidGptDisk();
        std::memcpy(&b[4096], &b[kPrimary], 512);  // where a 4Kn disk keeps its header
        std::memset(&b[kPrimary], 0, 512);
        return b;
      }(),
      "suggests 4096-byte sectors, which are not supported");
  add(
      "gpt_disk_too_small",
      [] {
        Bytes b(1024);
        PutEntry(b, 0, 0, 0, kMbrTypeGptProtective, 1, 1);
        PutSignature(b, 0);
        return b;
      }(),
      "the disk has 2 sectors (expected at least 3 for a GPT)");

  // --- MBR primaries.
  add("mbr_boot_indicator", MbrWith([](Bytes& b) { b[446] = 0x7f; }),
      "MBR partition 1: boot_indicator 0x7f at offset 0x1be (446) is invalid (expected 0x00 or 0x80)");
  add("mbr_past_end_of_disk", MbrWith([](Bytes& b) { PutEntry(b, 0, 2, 0, 0x83, 8000, 1000); }),
      "MBR partition 3: ends at sector 8999 (starting_lba 8000 + size_in_lba 1000 at offset 0x1de (478)), "
      "past the end of the disk (last sector 8191)");
  add("mbr_overlap", MbrWith([](Bytes& b) { PutEntry(b, 0, 2, 0, 0x83, 3000, 1000); }),
      "MBR partition 3: starts at sector 3000 but overlaps partition 1 (sectors 2048-4095)");
  add("mbr_zero_size", MbrWith([](Bytes& b) { PutEntry(b, 0, 2, 0, 0x83, 100, 0); }),
      "MBR partition 3: os_type 0x83 with size_in_lba 0");
  add("mbr_starts_at_zero", MbrWith([](Bytes& b) { PutEntry(b, 0, 2, 0, 0x83, 0, 100); }),
      "MBR partition 3: starting_lba 0 at offset 0x1de (478) overlaps the MBR itself");
  add("mbr_two_extended", MbrWith([](Bytes& b) { PutEntry(b, 0, 2, 0, 0x0f, 100, 1000); }),
      "MBR partition 3: a second extended partition");

  // --- EBR chain.
  add("ebr_no_signature", MbrWith([](Bytes& b) { b[6144 * 512 + 510] = 0; }),
      "EBR at sector 6144 (offset 0x300000 (3145728)): boot signature 0x00aa at offset 0x1fe (510) is not 0x55aa");
  add("ebr_loop", MbrWith([](Bytes& b) { PutEntry(b, 6144, 1, 0, 0x05, 0, 2048); }),
      "EBR at sector 6144 (offset 0x300000 (3145728)): entry 1: next EBR at sector 4096 (starting_lba 0 at offset "
      "0x3001ce (3146190)) loops back to an earlier EBR");
  add("ebr_self_loop", MbrWith([](Bytes& b) { PutEntry(b, 4096, 1, 0, 0x05, 0, 4096); }),
      "EBR at sector 4096 (offset 0x200000 (2097152)): entry 1: next EBR at sector 4096");
  add("ebr_link_outside_extended", MbrWith([](Bytes& b) { PutEntry(b, 4096, 1, 0, 0x05, 5000, 100); }),
      "entry 1: next EBR at sector 9096 (starting_lba 5000 at offset 0x2001ce (2097614), relative to the "
      "extended partition) lies outside extended partition 2 (sectors 4096-8191)");
  add("ebr_link_not_extended", MbrWith([](Bytes& b) { PutEntry(b, 4096, 1, 0, 0x83, 2048, 2048); }),
      "entry 1: os_type 0x83 at offset 0x2001ce (2097614) is not a link");
  add("ebr_boot_indicator", MbrWith([](Bytes& b) { b[4096 * 512 + 446] = 0x01; }),
      "EBR at sector 4096 (offset 0x200000 (2097152)): entry 0: boot_indicator 0x01");
  add("ebr_nested_extended", MbrWith([](Bytes& b) { PutEntry(b, 4096, 0, 0, 0x05, 1024, 1024); }),
      "entry 0: os_type 0x05 at offset 0x2001be (2097598) is an extended type");
  add("ebr_logical_zero_size", MbrWith([](Bytes& b) { PutEntry(b, 4096, 0, 0, 0x83, 1024, 0); }),
      "MBR partition 5: os_type 0x83 with size_in_lba 0");
  add("ebr_logical_on_its_ebr", MbrWith([](Bytes& b) { PutEntry(b, 4096, 0, 0, 0x83, 0, 1024); }),
      "MBR partition 5: starting_lba 0 at offset 0x2001be (2097598) points at its own EBR");
  add("ebr_logical_outside_extended", MbrWith([](Bytes& b) { PutEntry(b, 6144, 0, 0, 0x82, 1024, 2000); }),
      "MBR partition 6: sectors 7168-9167 (starting_lba 1024 relative to the EBR at sector 6144) lie outside "
      "extended partition 2 (sectors 4096-8191)");
  add("ebr_logicals_overlap", MbrWith([](Bytes& b) {
        PutEntry(b, 4096, 1, 0, 0x05, 512, 2048);  // second EBR at 4608 instead
        PutEntry(b, 4608, 0, 0, 0x82, 600, 1024);  // 5208-6231 overlaps 5120-6143
        PutSignature(b, 4608);
      }),
      "MBR partition 6: starts at sector 5208 but overlaps partition 5 (sectors 5120-6143)");
  add("ebr_inside_logical", MbrWith([](Bytes& b) { PutEntry(b, 4096, 0, 0, 0x83, 1024, 1500); }),
      "MBR partition 5: sectors 5120-6619 contain the EBR at sector 6144");
  add("ebr_chain_too_long", MbrWith([](Bytes& b) {
        // 200 EBRs on consecutive sectors, none with a partition.
        for (uint32_t k = 0; k < 200; ++k) {
          PutEntry(b, 4096 + k, 0, 0, 0, 0, 0);
          PutEntry(b, 4096 + k, 1, 0, 0x05, k + 1, 1);
          PutSignature(b, 4096 + k);
        }
      }),
      "extended partition 2 (sectors 4096-8191): EBR chain longer than 128");
  return c;
}

}  // namespace vhdcrypt::testing
