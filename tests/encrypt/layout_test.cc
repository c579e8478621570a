#include "src/plan/layout.h"

#include <gtest/gtest.h>

#include "formats/copy.h"
#include "formats/gpt.h"
#include "formats/mbr.h"
#include "formats/writer.h"

namespace vhdcrypt {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kHeader = 2 * kMiB;

// A disk image in memory whose partitions hold distinct byte patterns.
struct Disk {
  std::vector<uint8_t> bytes;
  std::unique_ptr<Image> image;
  PartitionTable table;
};

void Apply(std::vector<uint8_t>& bytes, const std::vector<DiskWrite>& writes) {
  for (const auto& w : writes) std::copy(w.bytes.begin(), w.bytes.end(), bytes.begin() + w.offset);
}

void Fill(std::vector<uint8_t>& bytes, uint64_t start, uint64_t size, uint8_t seed) {
  for (uint64_t i = 0; i < size; ++i) bytes[start + i] = static_cast<uint8_t>(seed + i * 13 + i / 512);
}

Disk MakeGptDisk() {
  Disk d;
  d.bytes.assign(64 * kMiB, 0);
  GptLayout layout;
  layout.disk_guid = GuidFromText("11111111-2222-4333-8444-555555555555");
  layout.boot_code.fill(0xB0);
  // p1 BIOS boot 1 MiB at 1 MiB, p2 data 8 MiB, p3 after a 1 MiB gap, p4 to near the end.
  layout.partitions = {
      {1, GuidFromText(kGptTypeBiosBoot), GuidFromText("00000000-0000-4000-8000-000000000001"), 2048, 4095, 0, "bios"},
      {2, GuidFromText(kGptTypeLinuxFilesystem), GuidFromText("00000000-0000-4000-8000-000000000002"), 4096, 20479, 0,
       "data one"},
      {3, GuidFromText(kGptTypeLinuxFilesystem), GuidFromText("00000000-0000-4000-8000-000000000003"), 22528, 38911,
       1ull << 60, "data two"},
      {4, GuidFromText(kGptTypeLinuxSwap), GuidFromText("00000000-0000-4000-8000-000000000004"), 40960, 120000, 0,
       "swap"},
  };
  auto writes = EncodeGpt(layout, d.bytes.size());
  EXPECT_TRUE(writes.ok());
  Fill(d.bytes, 1 * kMiB, kMiB, 1);
  Fill(d.bytes, 2 * kMiB, 8 * kMiB, 2);
  Fill(d.bytes, 10 * kMiB, kMiB, 9);  // the gap between p2 and p3
  Fill(d.bytes, 11 * kMiB, 8 * kMiB, 3);
  Fill(d.bytes, 20 * kMiB, 120001 * 512 - 20 * kMiB, 4);
  Apply(d.bytes, *writes);
  auto opened = OpenImage(std::make_unique<MemFile>("gpt.img", d.bytes), FormatHint::kRaw);
  d.image = std::move(*opened);
  d.table = *ReadPartitionTable(*d.image);
  return d;
}

// Carries out a layout with "encryption" replaced by a copy, so the test can
// check where every byte went.
std::vector<uint8_t> Carry(Image& in, const DiskLayout& layout) {
  MemFile out("out.img");
  auto w = MakeWriter(ContainerKind::kRaw, out, layout.out_size, {});
  EXPECT_TRUE(w.ok());
  for (const auto& s : layout.segments) {
    EXPECT_TRUE(CopyRange(in, s.source_offset, s.length, **w, s.out_offset).ok());
  }
  for (const auto& t : layout.table_writes) EXPECT_TRUE((*w)->Write(t.offset, t.bytes).ok());
  EXPECT_TRUE((*w)->Finish().ok());
  return out.data();
}

bool SameBytes(const std::vector<uint8_t>& a, uint64_t a_off, const std::vector<uint8_t>& b, uint64_t b_off,
               uint64_t n) {
  return std::equal(a.begin() + a_off, a.begin() + a_off + n, b.begin() + b_off);
}

std::span<const uint8_t, kSectorSize> Sector0(const Disk& d) {
  return std::span<const uint8_t, kSectorSize>(d.bytes.data(), kSectorSize);
}

TEST(PlanDiskLayout, GptPartitionGrowsAndLaterOnesMove) {
  Disk d = MakeGptDisk();
  const VolumeRequest enc[] = {{2, kHeader}};
  auto layout = PlanDiskLayout("gpt.img", d.table, Sector0(d), d.bytes.size(), enc, ContainerKind::kRaw);
  ASSERT_TRUE(layout.ok()) << layout.error().message();
  EXPECT_EQ(layout->out_size, d.bytes.size() + kHeader);
  ASSERT_EQ(layout->volumes.size(), 1u);
  const PlannedVolume& v = layout->volumes[0];
  EXPECT_EQ(v.partition, 2u);
  EXPECT_EQ(v.source_offset, 2 * kMiB);
  EXPECT_EQ(v.size, 8 * kMiB);
  EXPECT_EQ(v.header_offset, 2 * kMiB);
  EXPECT_EQ(v.out_partition_size, 8 * kMiB + kHeader);
  // Exactly one encrypted segment: the data segment right after the header.
  int encrypted = 0;
  for (const auto& s : layout->segments) {
    if (s.volume == 0) {
      ++encrypted;
      EXPECT_EQ(s.source_offset, 2 * kMiB);
      EXPECT_EQ(s.out_offset, 2 * kMiB + kHeader);
      EXPECT_EQ(s.length, 8 * kMiB);
    }
  }
  EXPECT_EQ(encrypted, 1);

  auto out = Carry(*d.image, *layout);
  auto img = OpenImage(std::make_unique<MemFile>("out.img", out), FormatHint::kRaw);
  ASSERT_TRUE(img.ok());
  auto table = ReadPartitionTable(**img);
  ASSERT_TRUE(table.ok()) << table.error().message();  // both GPT copies valid at the new size
  ASSERT_EQ(table->partitions.size(), 4u);
  EXPECT_EQ(table->disk_id, d.table.disk_id);
  for (size_t i = 0; i < 4; ++i) {
    const Partition& a = d.table.partitions[i];
    const Partition& b = table->partitions[i];
    EXPECT_EQ(b.uuid, a.uuid);
    EXPECT_EQ(b.type, a.type);
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.attributes, a.attributes);
  }
  EXPECT_EQ(table->partitions[0].start, 1 * kMiB);
  EXPECT_EQ(table->partitions[1].start, 2 * kMiB);
  EXPECT_EQ(table->partitions[1].size, 8 * kMiB + kHeader);
  EXPECT_EQ(table->partitions[2].start, 11 * kMiB + kHeader);
  EXPECT_EQ(table->partitions[3].start, 20 * kMiB + kHeader);
  // Contents: p1 in place, p2 after its header, the gap and p3, p4 moved.
  EXPECT_TRUE(SameBytes(out, 1 * kMiB, d.bytes, 1 * kMiB, kMiB));
  EXPECT_TRUE(SameBytes(out, 2 * kMiB + kHeader, d.bytes, 2 * kMiB, 8 * kMiB));
  EXPECT_TRUE(SameBytes(out, 10 * kMiB + kHeader, d.bytes, 10 * kMiB, kMiB));
  EXPECT_TRUE(SameBytes(out, 11 * kMiB + kHeader, d.bytes, 11 * kMiB, 8 * kMiB));
  EXPECT_TRUE(SameBytes(out, 20 * kMiB + kHeader, d.bytes, 20 * kMiB, 120001 * 512 - 20 * kMiB));
  // The protective MBR kept the boot code.
  EXPECT_EQ(out[0], 0xB0);
  EXPECT_EQ(out[439], 0xB0);
}

TEST(PlanDiskLayout, TwoGptVolumesShiftByTwoHeaders) {
  Disk d = MakeGptDisk();
  const VolumeRequest enc[] = {{3, kHeader}, {2, kHeader}};  // request order is kept in volumes
  auto layout = PlanDiskLayout("gpt.img", d.table, Sector0(d), d.bytes.size(), enc, ContainerKind::kRaw);
  ASSERT_TRUE(layout.ok()) << layout.error().message();
  EXPECT_EQ(layout->out_size, d.bytes.size() + 2 * kHeader);
  EXPECT_EQ(layout->volumes[0].partition, 3u);
  EXPECT_EQ(layout->volumes[0].header_offset, 11 * kMiB + kHeader);
  EXPECT_EQ(layout->volumes[1].partition, 2u);
  EXPECT_EQ(layout->volumes[1].header_offset, 2 * kMiB);
  auto out = Carry(*d.image, *layout);
  auto img = OpenImage(std::make_unique<MemFile>("out.img", out), FormatHint::kRaw);
  auto table = ReadPartitionTable(**img);
  ASSERT_TRUE(table.ok()) << table.error().message();
  EXPECT_EQ(table->partitions[3].start, 20 * kMiB + 2 * kHeader);
  EXPECT_TRUE(SameBytes(out, 20 * kMiB + 2 * kHeader, d.bytes, 20 * kMiB, 120001 * 512 - 20 * kMiB));
  // Segments are in output order and do not overlap.
  for (size_t i = 1; i < layout->segments.size(); ++i) {
    const auto& a = layout->segments[i - 1];
    EXPECT_LE(a.out_offset + a.length, layout->segments[i].out_offset);
  }
}

// The OS volume's header is detached: its partition keeps place and size,
// while a data volume after it still grows by its header.
TEST(PlanDiskLayout, DetachedVolumeStaysInPlace) {
  Disk d = MakeGptDisk();
  const VolumeRequest enc[] = {{2, 0}, {3, kHeader}};
  auto layout = PlanDiskLayout("gpt.img", d.table, Sector0(d), d.bytes.size(), enc, ContainerKind::kRaw);
  ASSERT_TRUE(layout.ok()) << layout.error().message();
  EXPECT_EQ(layout->out_size, d.bytes.size() + kHeader);
  const PlannedVolume& os = layout->volumes[0];
  EXPECT_EQ(os.source_offset, 2 * kMiB);
  EXPECT_EQ(os.data_offset, 2 * kMiB);
  EXPECT_EQ(os.out_partition_size, 8 * kMiB);
  const PlannedVolume& data = layout->volumes[1];
  EXPECT_EQ(data.header_offset, 11 * kMiB);
  EXPECT_EQ(data.data_offset, 11 * kMiB + kHeader);
  for (const auto& s : layout->segments) {
    if (s.volume == 0) {
      EXPECT_EQ(s.out_offset, s.source_offset);
    } else if (s.volume == 1) {
      EXPECT_EQ(s.out_offset, 11 * kMiB + kHeader);
    }
  }
  auto out = Carry(*d.image, *layout);
  auto img = OpenImage(std::make_unique<MemFile>("out.img", out), FormatHint::kRaw);
  ASSERT_TRUE(img.ok());
  auto table = ReadPartitionTable(**img);
  ASSERT_TRUE(table.ok()) << table.error().message();
  EXPECT_EQ(table->partitions[1].start, 2 * kMiB);
  EXPECT_EQ(table->partitions[1].size, 8 * kMiB);
  EXPECT_EQ(table->partitions[2].size, 8 * kMiB + kHeader);
  EXPECT_EQ(table->partitions[3].start, 20 * kMiB + kHeader);
}

// An OS volume with its header attached is edited while still plaintext:
// the edit table points its partition at the data segment (where the
// filesystem lies until the header goes in), every other partition as the
// final table has it; the final table then replaces it, sector for sector.
TEST(PlanDiskLayout, VolumeEditedBeforeItsHeaderGetsAPlaintextViewTable) {
  Disk d = MakeGptDisk();
  VolumeRequest enc[] = {{2, kHeader, true}, {3, kHeader}};
  auto layout = PlanDiskLayout("gpt.img", d.table, Sector0(d), d.bytes.size(), enc, ContainerKind::kRaw);
  ASSERT_TRUE(layout.ok()) << layout.error().message();
  ASSERT_EQ(layout->edit_table_writes.size(), layout->table_writes.size());
  for (size_t i = 0; i < layout->table_writes.size(); ++i) {
    EXPECT_EQ(layout->edit_table_writes[i].offset, layout->table_writes[i].offset);
    EXPECT_EQ(layout->edit_table_writes[i].bytes.size(), layout->table_writes[i].bytes.size());
  }
  const auto table_of = [&](const std::vector<DiskWrite>& writes) {
    std::vector<uint8_t> bytes = Carry(*d.image, *layout);
    Apply(bytes, writes);
    auto img = OpenImage(std::make_unique<MemFile>("out.img", bytes), FormatHint::kRaw);
    EXPECT_TRUE(img.ok());
    auto t = ReadPartitionTable(**img);
    EXPECT_TRUE(t.ok()) << t.error().message();  // both GPT copies valid
    return *t;
  };
  const PartitionTable edit = table_of(layout->edit_table_writes);
  const PartitionTable final_table = table_of(layout->table_writes);
  ASSERT_EQ(edit.partitions.size(), 4u);
  ASSERT_EQ(final_table.partitions.size(), 4u);
  EXPECT_EQ(edit.partitions[1].start, layout->volumes[0].data_offset);
  EXPECT_EQ(edit.partitions[1].size, 8 * kMiB);
  EXPECT_EQ(edit.partitions[1].uuid, d.table.partitions[1].uuid);
  EXPECT_EQ(final_table.partitions[1].start, layout->volumes[0].header_offset);
  EXPECT_EQ(final_table.partitions[1].size, 8 * kMiB + kHeader);
  for (size_t i : {0, 2, 3}) {
    EXPECT_EQ(edit.partitions[i].start, final_table.partitions[i].start) << i;
    EXPECT_EQ(edit.partitions[i].size, final_table.partitions[i].size) << i;
  }
  // Without such a request there is no edit table.
  enc[0].edited_before_header = false;
  auto plain = PlanDiskLayout("gpt.img", d.table, Sector0(d), d.bytes.size(), enc, ContainerKind::kRaw);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->edit_table_writes.empty());
  // A whole disk is never edited before its header (an OS volume is a partition).
  const VolumeRequest whole[] = {{0, kHeader, true}};
  EXPECT_FALSE(PlanDiskLayout("whole.img", PartitionTable{}, Sector0(d), 100 * kMiB, whole, ContainerKind::kRaw).ok());
}

TEST(PlanDiskLayout, FixedVhdOutputIsRoundedToAWholeMiBAndGptBackupIsAtTheNewEnd) {
  Disk d = MakeGptDisk();
  // Cut the disk to a size that is not whole MiB: the fixed VHD output is.
  PartitionTable t = d.table;
  const VolumeRequest enc[] = {{2, kHeader}};
  auto layout = PlanDiskLayout("gpt.img", t, Sector0(d), d.bytes.size() - 512 * 7, enc, ContainerKind::kVhdFixed);
  ASSERT_TRUE(layout.ok()) << layout.error().message();
  EXPECT_EQ(layout->out_size % kMiB, 0u);
  EXPECT_GE(layout->out_size, d.bytes.size() - 512 * 7 + kHeader);
  uint64_t last = 0;
  for (const auto& w : layout->table_writes) last = std::max<uint64_t>(last, w.offset + w.bytes.size());
  EXPECT_EQ(last, layout->out_size);
}

TEST(PlanDiskLayout, MbrKeepsBootCodeSignatureTypesAndFlags) {
  std::vector<uint8_t> bytes(48 * kMiB, 0);
  MbrLayout layout;
  layout.boot_code.fill(0xEB);
  layout.disk_signature = 0xCAFE1234;
  layout.partitions = {{1, 0x83, true, 2048, 8192}, {2, 0x83, false, 10240, 16384}, {3, 0x82, false, 30720, 8192}};
  auto writes = EncodeMbr(layout, bytes.size());
  ASSERT_TRUE(writes.ok());
  Apply(bytes, *writes);
  Fill(bytes, 512, kMiB - 512, 7);  // GRUB's core image would sit here
  Fill(bytes, 5 * kMiB, 8 * kMiB, 5);
  Fill(bytes, 15 * kMiB, 4 * kMiB, 6);
  auto img = OpenImage(std::make_unique<MemFile>("mbr.img", bytes), FormatHint::kRaw);
  auto table = ReadPartitionTable(**img);
  ASSERT_TRUE(table.ok());
  const VolumeRequest enc[] = {{2, kHeader}};
  auto plan = PlanDiskLayout("mbr.img", *table, std::span<const uint8_t, kSectorSize>(bytes.data(), kSectorSize),
                             bytes.size(), enc, ContainerKind::kRaw);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  auto out = Carry(**img, *plan);
  auto back = OpenImage(std::make_unique<MemFile>("out.img", out), FormatHint::kRaw);
  auto t2 = ReadPartitionTable(**back);
  ASSERT_TRUE(t2.ok()) << t2.error().message();
  EXPECT_EQ(t2->disk_id, "0xcafe1234");
  ASSERT_EQ(t2->partitions.size(), 3u);
  EXPECT_TRUE(t2->partitions[0].bootable);
  EXPECT_EQ(t2->partitions[1].size, 8 * kMiB + kHeader);
  EXPECT_EQ(t2->partitions[2].start, 15 * kMiB + kHeader);
  EXPECT_EQ(t2->partitions[2].type, "0x82");
  EXPECT_EQ(out[0], 0xEB);
  EXPECT_TRUE(SameBytes(out, 512, bytes, 512, kMiB - 512));
  EXPECT_TRUE(SameBytes(out, 5 * kMiB + kHeader, bytes, 5 * kMiB, 8 * kMiB));
  EXPECT_TRUE(SameBytes(out, 15 * kMiB + kHeader, bytes, 15 * kMiB, 4 * kMiB));
}

TEST(PlanDiskLayout, WholeDiskGetsTheHeaderInFront) {
  PartitionTable none;
  std::array<uint8_t, kSectorSize> s0{};
  const VolumeRequest enc[] = {{0, kHeader}};
  auto plan = PlanDiskLayout("whole.img", none, s0, 100 * kMiB, enc, ContainerKind::kVhdDynamic);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->out_size, 100 * kMiB + kHeader);
  ASSERT_EQ(plan->segments.size(), 1u);
  EXPECT_EQ(plan->segments[0], (Segment{0, 100 * kMiB, kHeader, 0}));
  EXPECT_EQ(plan->volumes[0].header_offset, 0u);
  EXPECT_TRUE(plan->table_writes.empty());
}

TEST(PlanDiskLayout, NothingToEncryptIsACopy) {
  Disk d = MakeGptDisk();
  auto plan = PlanDiskLayout("gpt.img", d.table, Sector0(d), d.bytes.size(), {}, ContainerKind::kRaw);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->out_size, d.bytes.size());
  ASSERT_EQ(plan->segments.size(), 1u);
  EXPECT_EQ(plan->segments[0], (Segment{0, d.bytes.size(), 0, -1}));
  EXPECT_TRUE(plan->table_writes.empty());
}

TEST(PlanDiskLayout, Refusals) {
  Disk d = MakeGptDisk();
  std::array<uint8_t, kSectorSize> s0{};
  s0[510] = 0x55;
  s0[511] = 0xAA;
  auto refused = [&](const PartitionTable& t, std::vector<uint32_t> parts, uint64_t size, const std::string& needle) {
    std::vector<VolumeRequest> enc;
    for (uint32_t p : parts) enc.push_back({p, kHeader});
    auto plan = PlanDiskLayout("x.img", t, s0, size, enc, ContainerKind::kRaw);
    ASSERT_FALSE(plan.ok()) << needle;
    EXPECT_EQ(plan.error().kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(plan.error().message().find("x.img"), std::string::npos) << plan.error().message();
    EXPECT_NE(plan.error().message().find(needle), std::string::npos) << plan.error().message();
  };
  refused(d.table, {7}, d.bytes.size(), "no partition 7");
  refused(d.table, {2, 2}, d.bytes.size(), "requested twice");
  refused(PartitionTable{}, {1}, d.bytes.size(), "no partition table");

  PartitionTable mbr;
  mbr.kind = TableKind::kMbr;
  mbr.partitions = {
      {1, 2048 * 512, 10 * kMiB, "0x83"}, {2, 30 * kMiB, 20 * kMiB, "0x05"}, {5, 31 * kMiB, 5 * kMiB, "0x83"}};
  refused(mbr, {1}, 64 * kMiB, "extended or logical");

  // 2 TiB: the last partition would cross the 32-bit sector limit once moved.
  PartitionTable big;
  big.kind = TableKind::kMbr;
  const uint64_t end = 0xFFFFFFFFull * 512;
  big.partitions = {{1, kMiB, kMiB, "0x83"}, {2, 2 * kMiB, end - 2 * kMiB - 512, "0x83"}};
  refused(big, {1}, end, "32-bit limit");
}

TEST(PlanDiskLayout, NewGptPartitionGoesAfterEverythingAndTheDiskGrows) {
  Disk d = MakeGptDisk();
  const VolumeRequest enc[] = {{4, 0}};  // detached: stays in place
  NewPartition add{16 * kMiB, kGptTypeLinuxFilesystem, "00000000-0000-4000-8000-0000000000b0", "boot"};
  auto layout = PlanDiskLayout("gpt.img", d.table, Sector0(d), d.bytes.size(), enc, ContainerKind::kRaw, add);
  ASSERT_TRUE(layout.ok()) << layout.error().message();
  EXPECT_EQ(layout->new_partition, 5u);
  EXPECT_EQ(layout->new_partition_offset % kMiB, 0u);
  EXPECT_GE(layout->new_partition_offset, 120001 * 512ull);
  EXPECT_EQ(layout->new_partition_size, 16 * kMiB);
  EXPECT_GE(layout->out_size, layout->new_partition_offset + 16 * kMiB + 33 * 512);
  for (const auto& s : layout->segments) {
    EXPECT_LE(s.out_offset + s.length, layout->new_partition_offset) << "nothing is copied into the new partition";
  }
  auto out = Carry(*d.image, *layout);
  auto img = OpenImage(std::make_unique<MemFile>("out.img", out), FormatHint::kRaw);
  auto table = ReadPartitionTable(**img);
  ASSERT_TRUE(table.ok()) << table.error().message();
  ASSERT_EQ(table->partitions.size(), 5u);
  const Partition& p = table->partitions[4];
  EXPECT_EQ(p.number, 5u);
  EXPECT_EQ(p.start, layout->new_partition_offset);
  EXPECT_EQ(p.size, 16 * kMiB);
  EXPECT_EQ(p.uuid, "00000000-0000-4000-8000-0000000000B0");
  EXPECT_EQ(p.name, "boot");
  EXPECT_EQ(table->partitions[3].start, 20 * kMiB);  // the others did not move
  EXPECT_TRUE(SameBytes(out, 20 * kMiB, d.bytes, 20 * kMiB, 120001 * 512 - 20 * kMiB));
}

TEST(PlanDiskLayout, NewMbrPartitionTakesTheFirstFreePrimarySlot) {
  std::vector<uint8_t> bytes(48 * kMiB, 0);
  MbrLayout layout;
  layout.disk_signature = 0xCAFE1234;
  layout.partitions = {{1, 0x83, true, 2048, 8192}, {3, 0x83, false, 30720, 8192}};
  auto writes = EncodeMbr(layout, bytes.size());
  ASSERT_TRUE(writes.ok());
  Apply(bytes, *writes);
  auto img = OpenImage(std::make_unique<MemFile>("mbr.img", bytes), FormatHint::kRaw);
  auto table = ReadPartitionTable(**img);
  ASSERT_TRUE(table.ok());
  auto s0 = std::span<const uint8_t, kSectorSize>(bytes.data(), kSectorSize);
  NewPartition add{8 * kMiB};
  auto plan = PlanDiskLayout("mbr.img", *table, s0, bytes.size(), {}, ContainerKind::kRaw, add);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_EQ(plan->new_partition, 2u);
  EXPECT_EQ(plan->new_partition_offset, 48 * kMiB);  // after the end of the old disk
  EXPECT_EQ(plan->out_size, 57 * kMiB);
  auto out = Carry(**img, *plan);
  auto back = OpenImage(std::make_unique<MemFile>("out.img", out), FormatHint::kRaw);
  auto t2 = ReadPartitionTable(**back);
  ASSERT_TRUE(t2.ok()) << t2.error().message();
  ASSERT_EQ(t2->partitions.size(), 3u);
  EXPECT_EQ(t2->partitions[1].number, 2u);
  EXPECT_EQ(t2->partitions[1].type, "0x83");
  EXPECT_EQ(t2->partitions[1].start, 48 * kMiB);
  EXPECT_EQ(t2->disk_id, "0xcafe1234");

  // Four primaries: no slot.
  layout.partitions = {{1, 0x83, true, 2048, 8192},
                       {2, 0x83, false, 10240, 8192},
                       {3, 0x83, false, 30720, 8192},
                       {4, 0x83, false, 40960, 8192}};
  std::vector<uint8_t> full(48 * kMiB, 0);
  Apply(full, *EncodeMbr(layout, full.size()));
  auto img4 = OpenImage(std::make_unique<MemFile>("full.img", full), FormatHint::kRaw);
  auto t4 = ReadPartitionTable(**img4);
  ASSERT_TRUE(t4.ok());
  auto refused = PlanDiskLayout("full.img", *t4, std::span<const uint8_t, kSectorSize>(full.data(), kSectorSize),
                                full.size(), {}, ContainerKind::kRaw, add);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(refused.error().message().find("full.img: no free partition slot"), std::string::npos)
      << refused.error().message();
  // No table: nothing to add to.
  PartitionTable none;
  auto no_table = PlanDiskLayout("whole.img", none, s0, bytes.size(), {}, ContainerKind::kRaw, add);
  ASSERT_FALSE(no_table.ok());
  EXPECT_NE(no_table.error().message().find("no partition table"), std::string::npos);
}

}  // namespace

}  // namespace vhdcrypt
