// MBR and GPT: decoding, encoding, round trips, and the malformed table.
// Agreement with util-linux's sfdisk is in partition_table_sfdisk_test.cc.
#include "formats/partition_table.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "formats/gpt.h"
#include "formats/mbr.h"
#include "tests/formats/malformed_ptables.h"

namespace vhdcrypt {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint64_t kMiB = 1024 * 1024;

Result<PartitionTable> Read(Bytes disk, const std::string& path = "disk.img") {
  auto image = RawImage::Open(std::make_unique<MemFile>(path, std::move(disk)));
  if (!image.ok()) return image.error();
  return ReadPartitionTable(**image);
}

Bytes Apply(uint64_t size, const std::vector<DiskWrite>& writes) {
  Bytes disk(size);
  for (const auto& w : writes) {
    EXPECT_LE(w.offset + w.bytes.size(), size);
    std::memcpy(disk.data() + w.offset, w.bytes.data(), w.bytes.size());
  }
  return disk;
}

GptPartitionSpec Spec(uint32_t number, const char* type, uint64_t first, uint64_t last, std::string name) {
  GptPartitionSpec s;
  s.number = number;
  s.type = GuidFromText(type);
  s.unique = RandomGuid();
  s.first_lba = first;
  s.last_lba = last;
  s.name = std::move(name);
  return s;
}

TEST(Guid, TextAndBytes) {
  Guid g = GuidFromText("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  const Bytes expected = {0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
                          0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B};
  EXPECT_EQ(Bytes(g.bytes.begin(), g.bytes.end()), expected);
  EXPECT_EQ(g.ToString(), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  EXPECT_EQ(ParseGuid("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")->ToString(), g.ToString());
  for (const char* bad : {"", "C12A7328F81F11D2BA4B00A0C93EC93B", "C12A7328-F81F-11D2-BA4B-00A0C93EC93X",
                          "C12A7328-F81F-11D2-BA4B00-A0C93EC93B"}) {
    auto r = ParseGuid(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::kUsage);
  }
  EXPECT_STREQ(GptTypeName(g), "EFI System");
}

TEST(Guid, RandomIsVersion4) {
  Guid a = RandomGuid(), b = RandomGuid();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.ToString()[14], '4');
  EXPECT_NE(std::string("89AB").find(a.ToString()[19]), std::string::npos);
}

TEST(Mbr, ChsOfCommonSectors) {
  EXPECT_EQ(LbaToChs(1), (std::array<uint8_t, 3>{0x00, 0x02, 0x00}));  // the protective MBR's start
  EXPECT_EQ(LbaToChs(2048), (std::array<uint8_t, 3>{0x20, 0x21, 0x00}));
  EXPECT_EQ(LbaToChs(1ull << 40), (std::array<uint8_t, 3>{0xFE, 0xFF, 0xFF}));
}

TEST(PartitionTable, UnpartitionedDisksAreNone) {
  EXPECT_FALSE(Read(Bytes(0)).ok());  // an empty file is not a disk (docs/hostile-input.md)
  for (uint64_t size : {uint64_t{512}, uint64_t{1024}, 4 * kMiB}) {
    auto t = Read(Bytes(size));
    ASSERT_TRUE(t.ok()) << t.error().message();
    EXPECT_EQ(t->kind, TableKind::kNone);
    EXPECT_TRUE(t->partitions.empty());
    EXPECT_EQ(t->disk_id, "");
  }
  EXPECT_STREQ(TableKindName(TableKind::kNone), "none");
  EXPECT_STREQ(TableKindName(TableKind::kMbr), "mbr");
  EXPECT_STREQ(TableKindName(TableKind::kGpt), "gpt");
}

// mkfs.vfat on a whole disk writes 0x55AA and boot code where an MBR keeps
// its entries; that is a filesystem, not a broken partition table.
TEST(PartitionTable, WholeDiskFatIsNone) {
  Bytes disk(4 * kMiB);
  const uint8_t head[] = {0xEB, 0x3C, 0x90, 'm', 'k', 'f', 's', '.', 'f', 'a', 't', 0x00, 0x02, 0x04, 0x04, 0x00, 0x02};
  std::memcpy(disk.data(), head, sizeof head);
  std::memcpy(disk.data() + 0x36, "FAT16   ", 8);
  for (size_t i = 446; i < 510; ++i) disk[i] = static_cast<uint8_t>(i * 37);  // boot code, not entries
  disk[510] = 0x55;
  disk[511] = 0xAA;
  auto t = Read(disk);
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->kind, TableKind::kNone);
}

TEST(Gpt, RoundTrip) {
  const uint64_t size = 64 * kMiB;
  const uint64_t n = size / 512;
  GptLayout layout;
  layout.disk_guid = RandomGuid();
  layout.partitions = {Spec(1, kGptTypeBiosBoot, 2048, 4095, "bios"),
                       Spec(2, kGptTypeEfiSystem, 4096, 65535, "EFI System Partition"),
                       Spec(5, kGptTypeLinuxFilesystem, 65536, GptLastUsableLba(n), "données 😀 root"),
                       Spec(4, "01234567-89AB-CDEF-0123-456789ABCDEF", 100, 2047, "")};
  layout.partitions[0].attributes = 1ull << 2 | 1ull << 60;
  ASSERT_EQ(GptLastUsableLba(n), n - 34);
  auto writes = EncodeGpt(layout, size);
  ASSERT_TRUE(writes.ok()) << writes.error().message();
  ASSERT_EQ(writes->size(), 3u);
  EXPECT_EQ((*writes)[2].offset + (*writes)[2].bytes.size(), size);  // backup ends the disk

  auto t = Read(Apply(size, *writes));
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->kind, TableKind::kGpt);
  EXPECT_EQ(t->disk_id, layout.disk_guid.ToString());
  ASSERT_EQ(t->partitions.size(), 4u);
  const uint32_t numbers[] = {1, 2, 4, 5};  // entry order, not layout order
  const size_t spec_of[] = {0, 1, 3, 2};
  for (size_t i = 0; i < 4; ++i) {
    const Partition& p = t->partitions[i];
    const GptPartitionSpec& s = layout.partitions[spec_of[i]];
    SCOPED_TRACE(p.number);
    EXPECT_EQ(p.number, numbers[i]);
    EXPECT_EQ(p.start, s.first_lba * 512);
    EXPECT_EQ(p.size, (s.last_lba - s.first_lba + 1) * 512);
    EXPECT_EQ(p.type, s.type.ToString());
    EXPECT_EQ(p.uuid, s.unique.ToString());
    EXPECT_EQ(p.name, s.name);
    EXPECT_EQ(p.attributes, s.attributes);
    EXPECT_FALSE(p.bootable);
  }
  EXPECT_EQ(t->partitions[0].type_name, "BIOS boot");
  EXPECT_EQ(t->partitions[1].type_name, "EFI System");
  EXPECT_EQ(t->partitions[2].type_name, "");
  EXPECT_EQ(t->partitions[3].type_name, "Linux filesystem");
  EXPECT_EQ(t->partitions[3].type, "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
}

TEST(Gpt, ProtectiveMbrKeepsBootCodeAndCapsSize) {
  GptLayout layout;
  layout.disk_guid = RandomGuid();
  for (size_t i = 0; i < kMbrBootCodeSize; ++i) layout.boot_code[i] = static_cast<uint8_t>(i);
  layout.protective_mbr_bootable = true;
  const uint64_t three_tib = 3ull << 40;  // more sectors than an MBR can count
  auto writes = EncodeGpt(layout, three_tib);
  ASSERT_TRUE(writes.ok()) << writes.error().message();
  const Bytes& mbr = (*writes)[0].bytes;
  ASSERT_EQ(mbr.size(), 512u);
  EXPECT_EQ(std::memcmp(mbr.data(), layout.boot_code.data(), kMbrBootCodeSize), 0);
  auto decoded = DecodeMbr(std::span<const uint8_t, 512>(mbr.data(), 512));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->entries[0], (MbrEntry{0x80, 0xEE, 1, 0xFFFFFFFF}));
  EXPECT_EQ(mbr[446 + 5], 0xFF);  // ending CHS: not representable
  EXPECT_EQ((*writes)[2].offset, three_tib - 33 * 512);
}

TEST(Gpt, EncodeRefusesBadLayouts) {
  const uint64_t size = 4 * kMiB;  // usable 34-8158
  struct Bad {
    std::vector<GptPartitionSpec> parts;
    std::string expect;
  };
  std::vector<Bad> cases = {
      {{Spec(1, kGptTypeLinuxFilesystem, 33, 100, "")}, "first_lba 33 is before first_usable_lba 34"},
      {{Spec(1, kGptTypeLinuxFilesystem, 34, 8159, "")}, "last_lba 8159 is past last_usable_lba 8158"},
      {{Spec(1, kGptTypeLinuxFilesystem, 200, 100, "")}, "first_lba 200 is greater than last_lba 100"},
      {{Spec(1, kGptTypeLinuxFilesystem, 34, 100, ""), Spec(2, kGptTypeLinuxSwap, 100, 200, "")},
       "GPT partition 2: starts at LBA 100 but overlaps partition 1 (LBAs 34-100)"},
      {{Spec(1, kGptTypeLinuxFilesystem, 34, 100, ""), Spec(1, kGptTypeLinuxSwap, 200, 300, "")},
       "partition 1: number used twice"},
      {{Spec(129, kGptTypeLinuxFilesystem, 34, 100, "")}, "number out of range"},
      {{Spec(1, "00000000-0000-0000-0000-000000000000", 34, 100, "")}, "type GUID is all zeros"},
      {{Spec(1, kGptTypeLinuxFilesystem, 34, 100, std::string(37, 'x'))}, "needs 37 UTF-16 code units"},
      {{Spec(1, kGptTypeLinuxFilesystem, 34, 100, "\xC3")}, "is not valid UTF-8"},
      {{Spec(1, kGptTypeLinuxFilesystem, 34, 100, "\xC0\x80")}, "is not valid UTF-8"},  // overlong NUL
  };
  GptPartitionSpec twin = Spec(2, kGptTypeLinuxSwap, 200, 300, "");
  cases.push_back({{Spec(1, kGptTypeLinuxFilesystem, 34, 100, ""), twin, twin}, "is used by another partition"});
  cases.back().parts[2].number = 3;
  cases.push_back({{Spec(1, kGptTypeLinuxFilesystem, 34, 100, "")}, "unique GUID is all zeros"});
  cases.back().parts[0].unique = Guid{};
  cases.push_back({{}, "disk GUID is all zeros"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.expect);
    GptLayout layout;
    layout.disk_guid = c.expect == "disk GUID is all zeros" ? Guid{} : RandomGuid();
    layout.partitions = c.parts;
    auto r = EncodeGpt(layout, size);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
    EXPECT_EQ(r.error().message().rfind("GPT layout: ", 0), 0u) << r.error().message();
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos) << r.error().message();
  }
  // 36 units fit exactly, a surrogate pair counts two.
  GptLayout ok;
  ok.disk_guid = RandomGuid();
  ok.partitions = {Spec(1, kGptTypeLinuxFilesystem, 34, 100, std::string(34, 'x') + "😀")};
  EXPECT_TRUE(EncodeGpt(ok, size).ok());
  // The smallest disk: MBR, two headers, two arrays and no usable sector.
  ok.partitions.clear();
  EXPECT_FALSE(EncodeGpt(ok, 66 * 512).ok());
  EXPECT_FALSE(EncodeGpt(ok, 4 * kMiB + 1).ok());
  ASSERT_TRUE(EncodeGpt(ok, 67 * 512).ok());
  auto empty = Read(Apply(67 * 512, *EncodeGpt(ok, 67 * 512)));
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_EQ(empty->kind, TableKind::kGpt);
  EXPECT_TRUE(empty->partitions.empty());
}

TEST(Gpt, NamesDecodeLoneSurrogatesAsReplacement) {
  std::array<uint8_t, 128> raw{};
  raw[0] = 1;  // any non-zero type
  const uint16_t name[] = {'a', 0xD800, 'b', 0xDC00, 0xD83D, 0xDE00};
  for (size_t i = 0; i < 6; ++i) {
    raw[56 + 2 * i] = static_cast<uint8_t>(name[i]);
    raw[57 + 2 * i] = static_cast<uint8_t>(name[i] >> 8);
  }
  EXPECT_EQ(DecodeGptEntry(raw).name,
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD"
            "😀");
}

// Entries larger than 128 bytes (128 * 2^k) are legal; only the first 128
// bytes of each are ours, but the CRC covers all of them.
TEST(Gpt, ReadsLargerEntries) {
  const uint64_t n = 8192;
  Bytes disk(n * 512);
  const uint32_t entries = 16, entry_size = 512;  // 16 sectors per array
  Bytes array(entries * entry_size);
  GptEntry e{GuidFromText(kGptTypeLinuxSwap), RandomGuid(), 100, 199, 0, "swap"};
  auto raw = EncodeGptEntry(e);
  ASSERT_TRUE(raw.ok());
  std::memcpy(array.data() + 3 * entry_size, raw->data(), 128);
  array[3 * entry_size + 300] = 0xAB;  // the reserved tail, covered by the CRC
  GptHeader h;
  h.alternate_lba = n - 1;
  h.first_usable_lba = 18;
  h.last_usable_lba = n - 18;
  h.disk_guid = RandomGuid();
  h.num_partition_entries = entries;
  h.size_of_partition_entry = entry_size;
  h.partition_entry_array_crc32 = static_cast<uint32_t>(::crc32(0, array.data(), static_cast<uInt>(array.size())));
  GptHeader b = h;
  b.my_lba = n - 1;
  b.alternate_lba = 1;
  b.partition_entry_lba = n - 17;
  auto pmbr = EncodeProtectiveMbr({}, n, false);
  std::memcpy(disk.data(), pmbr.data(), 512);
  std::memcpy(disk.data() + 512, EncodeGptHeader(h).data(), 512);
  std::memcpy(disk.data() + 1024, array.data(), array.size());
  std::memcpy(disk.data() + (n - 17) * 512, array.data(), array.size());
  std::memcpy(disk.data() + (n - 1) * 512, EncodeGptHeader(b).data(), 512);

  auto t = Read(disk);
  ASSERT_TRUE(t.ok()) << t.error().message();
  ASSERT_EQ(t->partitions.size(), 1u);
  EXPECT_EQ(t->partitions[0].number, 4u);
  EXPECT_EQ(t->partitions[0].start, 100u * 512);
  EXPECT_EQ(t->partitions[0].name, "swap");
  EXPECT_EQ(t->partitions[0].type_name, "Linux swap");
}

TEST(Mbr, RoundTripPrimaries) {
  const uint64_t size = 16 * kMiB;
  MbrLayout layout;
  layout.disk_signature = 0xdeadbeef;
  layout.boot_code[0] = 0xFA;
  layout.partitions = {{0, 0x83, true, 2048, 8192}, {3, 0x8E, false, 10240, 4096}, {4, 0x07, false, 16384, 2048}};
  auto writes = EncodeMbr(layout, size);
  ASSERT_TRUE(writes.ok()) << writes.error().message();
  ASSERT_EQ(writes->size(), 1u);
  auto t = Read(Apply(size, *writes));
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->kind, TableKind::kMbr);
  EXPECT_EQ(t->disk_id, "0xdeadbeef");
  ASSERT_EQ(t->partitions.size(), 3u);
  const Partition& p1 = t->partitions[0];
  EXPECT_EQ(p1.number, 1u);  // number 0: its position + 1
  EXPECT_EQ(p1.start, 2048u * 512);
  EXPECT_EQ(p1.size, 8192u * 512);
  EXPECT_EQ(p1.type, "0x83");
  EXPECT_EQ(p1.type_name, "Linux");
  EXPECT_TRUE(p1.bootable);
  EXPECT_EQ(p1.uuid, "");
  EXPECT_EQ(t->partitions[1].number, 3u);  // entry 2 stays empty
  EXPECT_EQ(t->partitions[1].type_name, "Linux LVM");
  EXPECT_FALSE(t->partitions[1].bootable);
  EXPECT_EQ(t->partitions[2].number, 4u);
  EXPECT_EQ(t->partitions[2].type, "0x07");
}

TEST(Mbr, EncodeRefusesBadLayouts) {
  const uint64_t size = 4 * kMiB;
  std::vector<std::pair<std::vector<MbrPartitionSpec>, std::string>> cases = {
      {{{1, 0x83, false, 2048, 8192}}, "past the end of the disk"},
      {{{1, 0x83, false, 0, 100}}, "starting_lba 0"},
      {{{1, 0x83, false, 100, 0}}, "size_in_lba is 0"},
      {{{1, 0x05, false, 100, 10}}, "os_type 0x05 cannot be written"},
      {{{1, 0xEE, false, 1, 10}}, "os_type 0xee cannot be written"},
      {{{5, 0x83, false, 100, 10}}, "number out of range"},
      {{{1, 0x83, false, 100, 10}, {1, 0x83, false, 200, 10}}, "number used twice"},
      {{{1, 0x83, false, 100, 100}, {2, 0x83, false, 150, 100}},
       "partition 2: starts at sector 150 but overlaps "
       "partition 1 (sectors 100-199)"},
      {{{0, 0x83, false, 1, 1},
        {0, 0x83, false, 2, 1},
        {0, 0x83, false, 3, 1},
        {0, 0x83, false, 4, 1},
        {0, 0x83, false, 5, 1}},
       "at most 4"},
  };
  for (const auto& [parts, expect] : cases) {
    SCOPED_TRACE(expect);
    MbrLayout layout;
    layout.partitions = parts;
    auto r = EncodeMbr(layout, size);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message().rfind("MBR layout: ", 0), 0u) << r.error().message();
    EXPECT_NE(r.error().message().find(expect), std::string::npos) << r.error().message();
  }
}

TEST(Mbr, ReadsLogicalPartitions) {
  auto t = Read(testing::ValidMbrDisk());
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->disk_id, "0x12345678");
  ASSERT_EQ(t->partitions.size(), 4u);
  const std::pair<uint32_t, uint64_t> expected[] = {{1, 2048}, {2, 4096}, {5, 5120}, {6, 7168}};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(t->partitions[i].number, expected[i].first);
    EXPECT_EQ(t->partitions[i].start, expected[i].second * 512);
  }
  EXPECT_EQ(t->partitions[1].type_name, "Extended");
  EXPECT_EQ(t->partitions[3].type, "0x82");
  EXPECT_EQ(t->partitions[3].size, 1024u * 512);
}

TEST(PartitionTable, GeneratorsStartFromValidDisks) {
  auto gpt = Read(testing::ValidGptDisk());
  ASSERT_TRUE(gpt.ok()) << gpt.error().message();
  EXPECT_EQ(gpt->kind, TableKind::kGpt);
  EXPECT_EQ(gpt->partitions.size(), 3u);
  auto mbr = Read(testing::ValidMbrDisk());
  ASSERT_TRUE(mbr.ok()) << mbr.error().message();
  EXPECT_EQ(mbr->kind, TableKind::kMbr);
}

TEST(PartitionTable, MalformedCases) {
  auto cases = testing::MalformedPartitionTableCases();
  EXPECT_GE(cases.size(), 25u);
  std::vector<std::string> seen;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(std::count(seen.begin(), seen.end(), c.expect), 0) << "two cases expect the same message";
    seen.push_back(c.expect);
    auto t = Read(c.image, "bad-" + c.name + ".img");
    ASSERT_FALSE(t.ok()) << "accepted";
    EXPECT_EQ(t.error().kind(), ErrorKind::kInvalidInput);
    EXPECT_EQ(t.error().message().rfind("bad-" + c.name + ".img: ", 0), 0u) << t.error().message();
    EXPECT_NE(t.error().message().find(c.expect), std::string::npos)
        << "message: " << t.error().message() << "\nexpected: " << c.expect;
  }
}

// Random damage to valid tables: never a crash (ASan/UBSan builds), and any
// error is kInvalidInput naming the file.
TEST(PartitionTable, SurvivesRandomCorruption) {
  std::mt19937_64 rng(42);
  // The bytes worth hitting: MBR, GPT headers and arrays, EBRs.
  const std::pair<size_t, size_t> hot[] = {{0, 34 * 512}, {8159 * 512, 33 * 512}, {4096 * 512, 512}, {6144 * 512, 512}};
  int rejected = 0;
  for (const Bytes& base : {testing::ValidGptDisk(), testing::ValidMbrDisk()}) {
    auto mem = std::make_unique<MemFile>("disk.img", base);
    MemFile* file = mem.get();
    auto image = RawImage::Open(std::move(mem));
    ASSERT_TRUE(image.ok());
    for (int iter = 0; iter < 2000; ++iter) {
      // Damage in place and undo afterwards: copying 4 MiB per round is slow under ASan.
      std::vector<std::pair<size_t, uint8_t>> undo;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int f = 0; f < flips; ++f) {
        const auto& [from, len] = hot[rng() % 4];
        const size_t at = from + rng() % len;
        undo.emplace_back(at, file->data()[at]);
        file->data()[at] = static_cast<uint8_t>(rng());
      }
      auto t = ReadPartitionTable(**image);
      if (!t.ok()) {
        ++rejected;
        ASSERT_EQ(t.error().kind(), ErrorKind::kInvalidInput) << t.error().message();
        ASSERT_EQ(t.error().message().rfind("disk.img: ", 0), 0u) << t.error().message();
      }
      for (auto it = undo.rbegin(); it != undo.rend(); ++it) file->data()[it->first] = it->second;
    }
  }
  EXPECT_GT(rejected, 100);  // the damage did reach the checks
}

TEST(MbrTypeText, RoundTripsEveryTypeAndRefusesOtherText) {
  for (int t = 0; t < 256; ++t) {
    EXPECT_EQ(MbrTypeFromText(MbrTypeText(static_cast<uint8_t>(t))), static_cast<uint8_t>(t)) << t;
  }
  for (const char* bad : {"", "0x", "0x8", "83", "0x833", "0xg3", "0X83", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"}) {
    EXPECT_FALSE(MbrTypeFromText(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace vhdcrypt
