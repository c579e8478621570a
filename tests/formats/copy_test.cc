#include "formats/copy.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "formats/vhd.h"
#include "tests/formats/malformed_case.h"
#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

TEST(IsZero, FindsTheOneNonZeroByte) {
  std::vector<uint8_t> v(1000, 0);
  EXPECT_TRUE(IsZero(v));
  for (size_t i : {0, 7, 8, 500, 999}) {
    v[i] = 1;
    EXPECT_FALSE(IsZero(v)) << i;
    v[i] = 0;
  }
}

TEST(Copy, DynamicToDynamicKeepsUnallocatedBlocksAndSkipsZeroBlocks) {
  auto bytes = testing::ValidDynamicVhd();
  auto in = OpenImage(std::make_unique<MemFile>("in.vhd", bytes), FormatHint::kAuto);
  ASSERT_TRUE(in.ok());
  MemFile out("out.vhd");
  auto w = MakeWriter(ContainerKind::kVhdDynamic, out, (*in)->virtual_size(), {});
  ASSERT_TRUE(w.ok());
  auto stats = CopyImage(**in, **w);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->bytes_read, 4 * kMiB);  // only the two allocated blocks
  EXPECT_EQ(stats->bytes_written, 4 * kMiB);
  ASSERT_TRUE((*w)->Finish().ok());
  auto back = vhd::VhdImage::Open(std::make_unique<MemFile>("out.vhd", out.data()));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ((*back)->AllocatedBlocks(), 2u);
}

TEST(Copy, RawOutputHasHolesWhereTheInputIsZero) {
  testing::TempDir dir;
  // Input: 16 MiB with data only in MiB 3 and MiB 12; zeros written explicitly
  // elsewhere, so the copy itself must notice the zeros.
  std::vector<uint8_t> bytes(16 * kMiB, 0);
  for (size_t i = 0; i < kMiB; ++i) bytes[3 * kMiB + i] = bytes[12 * kMiB + i] = static_cast<uint8_t>(i | 1);
  auto in = OpenImage(std::make_unique<MemFile>("in.img", bytes), FormatHint::kRaw);
  ASSERT_TRUE(in.ok());
  int fd = ::open((dir / "out.img").c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  PosixFile out(fd, dir / "out.img");
  auto w = MakeWriter(ContainerKind::kRaw, out, 16 * kMiB, {});
  ASSERT_TRUE(w.ok());
  auto stats = CopyImage(**in, **w);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->bytes_written, 2 * kMiB);
  ASSERT_TRUE((*w)->Finish().ok());
  ASSERT_EQ(*out.Size(), 16 * kMiB);
  auto data = out.DataExtents(0, 16 * kMiB);
  ASSERT_TRUE(data.ok());
  uint64_t allocated = 0;
  for (auto& e : *data) allocated += e.length;
  EXPECT_LE(allocated, 2 * kMiB + 128 * 1024);  // the two data MiB, give or take fs granularity
  std::vector<uint8_t> back(16 * kMiB);
  ASSERT_TRUE(ReadFull(out, 0, back).ok());
  EXPECT_EQ(back, bytes);
}

// Zero: a PosixFile deallocates the range (a hole, reading as zeros, the
// size kept); the default (any other File) writes the zeros.
TEST(Copy, ZeroPunchesAHoleOrWritesZeros) {
  testing::TempDir dir;
  std::vector<uint8_t> bytes(8 * kMiB, 0x5a);
  int fd = ::open((dir / "f.img").c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  PosixFile file(fd, dir / "f.img");
  ASSERT_TRUE(WriteFull(file, 0, bytes).ok());
  ASSERT_TRUE(file.Zero(2 * kMiB, 3 * kMiB).ok());
  ASSERT_EQ(*file.Size(), 8 * kMiB);
  std::vector<uint8_t> back(8 * kMiB);
  ASSERT_TRUE(ReadFull(file, 0, back).ok());
  std::fill(bytes.begin() + 2 * kMiB, bytes.begin() + 5 * kMiB, 0);
  EXPECT_EQ(back, bytes);
  auto data = file.DataExtents(0, 8 * kMiB);
  ASSERT_TRUE(data.ok());
  uint64_t allocated = 0;
  for (auto& e : *data) allocated += e.length;
  EXPECT_LE(allocated, 5 * kMiB + 128 * 1024) << "no hole where the zeros are";

  MemFile mem("m.img", std::vector<uint8_t>(kMiB + 7, 0xa5));
  ASSERT_TRUE(mem.Zero(3, kMiB).ok());
  std::vector<uint8_t> m(kMiB + 7);
  ASSERT_TRUE(ReadFull(mem, 0, m).ok());
  EXPECT_EQ(std::count(m.begin(), m.end(), 0), static_cast<long>(kMiB));
  EXPECT_EQ(m[2], 0xa5);
  EXPECT_EQ(m[kMiB + 3], 0xa5);
}

TEST(Copy, RefusesASmallerOutput) {
  auto in = OpenImage(std::make_unique<MemFile>("in.vhd", testing::ValidDynamicVhd()), FormatHint::kAuto);
  ASSERT_TRUE(in.ok());
  MemFile out("small");
  auto w = MakeWriter(ContainerKind::kRaw, out, kMiB, {});
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(CopyImage(**in, **w).ok());
}

TEST(CopyRange, MovesOneRangeAndLeavesTheRestUnwritten) {
  std::vector<uint8_t> bytes(8 * kMiB);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 1);
  auto in = OpenImage(std::make_unique<MemFile>("in.img", bytes), FormatHint::kRaw);
  ASSERT_TRUE(in.ok());
  MemFile out("out.img");
  auto w = MakeWriter(ContainerKind::kRaw, out, 12 * kMiB, {});
  ASSERT_TRUE(w.ok());
  uint64_t last_done = 0;
  auto stats = CopyRange(**in, 3 * kMiB + 512, 2 * kMiB, **w, 9 * kMiB, [&](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, 2 * kMiB);
    EXPECT_GE(done, last_done);
    last_done = done;
  });
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->bytes_read, 2 * kMiB);
  EXPECT_EQ(last_done, 2 * kMiB);
  ASSERT_TRUE((*w)->Finish().ok());
  ASSERT_EQ(out.data().size(), 12 * kMiB);
  EXPECT_TRUE(IsZero(std::span(out.data()).first(9 * kMiB)));
  EXPECT_TRUE(
      std::equal(bytes.begin() + 3 * kMiB + 512, bytes.begin() + 5 * kMiB + 512, out.data().begin() + 9 * kMiB));
  EXPECT_TRUE(IsZero(std::span(out.data()).subspan(11 * kMiB)));
}

TEST(CopyRange, RefusesRangesOutsideEitherDisk) {
  auto in = OpenImage(std::make_unique<MemFile>("in.img", std::vector<uint8_t>(kMiB, 1)), FormatHint::kRaw);
  ASSERT_TRUE(in.ok());
  MemFile out("out.img");
  auto w = MakeWriter(ContainerKind::kRaw, out, kMiB, {});
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(CopyRange(**in, 512, kMiB, **w, 0).ok());              // past the input
  EXPECT_FALSE(CopyRange(**in, 0, kMiB, **w, 512).ok());              // past the output
  EXPECT_FALSE(CopyRange(**in, 100, 512, **w, 0).ok());               // not sector-aligned
  EXPECT_FALSE(CopyRange(**in, UINT64_MAX - 511, 512, **w, 0).ok());  // overflow
}

}  // namespace
}  // namespace vhdcrypt
