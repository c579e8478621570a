#include "formats/vhd.h"

#include <gtest/gtest.h>

#include <cstring>

#include "formats/writer.h"
#include "tests/formats/malformed_case.h"

namespace vhdcrypt {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

std::unique_ptr<Image> OpenMem(std::vector<uint8_t> bytes, FormatHint hint = FormatHint::kAuto) {
  auto img = OpenImage(std::make_unique<MemFile>("mem.vhd", std::move(bytes)), hint);
  EXPECT_TRUE(img.ok()) << (img.ok() ? "" : img.error().message());
  return img.ok() ? std::move(img).value() : nullptr;
}

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + seed + (i >> 9));
  return v;
}

TEST(VhdGeometry, MaximumGeometryForLargeDisks) {
  auto g = vhd::GeometryForSize(200ull * 1024 * 1024 * 1024);
  EXPECT_EQ(g, (vhd::Geometry{65535, 16, 255}));
}

TEST(VhdGeometry, NeverExceedsTheSizeAndStaysClose) {
  for (uint64_t mib : {1, 3, 4, 30, 100, 127, 512, 1000, 4096, 30720, 65536}) {
    auto g = vhd::GeometryForSize(mib * kMiB);
    SCOPED_TRACE(mib);
    EXPECT_LE(g.TotalSectors() * 512, mib * kMiB);
    EXPECT_GT(g.TotalSectors() * 512, mib * kMiB * 95 / 100);
    EXPECT_GE(g.heads, 4);
    EXPECT_LE(g.heads, 16);
  }
}

TEST(VhdFooter, EncodeDecodeRoundTrip) {
  vhd::Footer f;
  f.current_size = f.original_size = 64 * kMiB;
  f.geometry = vhd::GeometryForSize(f.current_size);
  f.disk_type = vhd::DiskType::kDynamic;
  f.data_offset = 512;
  f.timestamp = 777;
  std::memcpy(f.creator_app.data(), "abcd", 4);
  f.unique_id[3] = 9;
  auto bytes = vhd::EncodeFooter(f);
  EXPECT_EQ(std::memcmp(bytes.data(), "conectix", 8), 0);
  auto back = vhd::DecodeFooter(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->current_size, f.current_size);
  EXPECT_EQ(back->data_offset, 512u);
  EXPECT_EQ(back->timestamp, 777u);
  EXPECT_EQ(back->geometry, f.geometry);
  EXPECT_EQ(back->unique_id, f.unique_id);
  EXPECT_EQ(back->disk_type, vhd::DiskType::kDynamic);
  // The checksum is the one's complement of the byte sum without itself.
  uint32_t sum = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i < 64 || i >= 68) sum += bytes[i];
  }
  EXPECT_EQ(back->checksum, ~sum);
}

TEST(VhdDynamicHeader, EncodeDecodeRoundTrip) {
  vhd::DynamicHeader h;
  h.table_offset = 1536;
  h.max_table_entries = 33;
  h.block_size = 512 * 1024;
  auto back = vhd::DecodeDynamicHeader(vhd::EncodeDynamicHeader(h));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->table_offset, 1536u);
  EXPECT_EQ(back->max_table_entries, 33u);
  EXPECT_EQ(back->block_size, 512u * 1024);
}

class WriterRoundTrip : public ::testing::TestWithParam<ContainerKind> {};

TEST_P(WriterRoundTrip, ReadsBackWhatWasWritten) {
  const ContainerKind kind = GetParam();
  const uint64_t size = 10 * kMiB;
  MemFile out("out");
  WriterOptions o;
  auto w = MakeWriter(kind, out, size, o);
  ASSERT_TRUE(w.ok()) << w.error().message();
  auto a = Pattern(3 * kMiB, 1);  // spans two dynamic blocks, starts mid-block
  auto b = Pattern(4096, 2);      // one small write near the end
  ASSERT_TRUE((*w)->Write(1 * kMiB, a).ok());
  ASSERT_TRUE((*w)->Write(size - 8192, b).ok());
  ASSERT_TRUE((*w)->Finish().ok());

  auto img = OpenMem(out.data(), kind == ContainerKind::kRaw ? FormatHint::kRaw : FormatHint::kAuto);
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->kind(), kind);
  EXPECT_EQ(img->virtual_size(), size);
  std::vector<uint8_t> all(size);
  ASSERT_TRUE(img->ReadAt(0, all).ok());
  std::vector<uint8_t> expect(size, 0);
  std::copy(a.begin(), a.end(), expect.begin() + kMiB);
  std::copy(b.begin(), b.end(), expect.begin() + size - 8192);
  EXPECT_EQ(all, expect);
  EXPECT_TRUE(img->Warnings().empty());
}

INSTANTIATE_TEST_SUITE_P(AllContainers, WriterRoundTrip,
                         ::testing::Values(ContainerKind::kRaw, ContainerKind::kVhdFixed, ContainerKind::kVhdDynamic));

TEST(VhdDynamic, UnwrittenBlocksStayUnallocated) {
  auto img = OpenMem(testing::ValidDynamicVhd());
  ASSERT_NE(img, nullptr);
  auto* v = dynamic_cast<vhd::VhdImage*>(img.get());
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->AllocatedBlocks(), 2u);
  auto ext = img->AllocatedExtents();
  ASSERT_TRUE(ext.ok());
  EXPECT_EQ(*ext, (std::vector<Extent>{{0, 2 * kMiB}, {4 * kMiB, 2 * kMiB}}));
}

TEST(VhdDynamic, ClearBitmapBitsReadAsZeros) {
  auto bytes = testing::ValidDynamicVhd();
  // Block 0's bitmap is at 2048; clear the bits of sectors 8..15.
  bytes[2048 + 1] = 0x00;
  auto img = OpenMem(bytes);
  ASSERT_NE(img, nullptr);
  std::vector<uint8_t> buf(16 * 512);
  ASSERT_TRUE(img->ReadAt(0, buf).ok());
  for (size_t i = 0; i < 8 * 512; ++i) ASSERT_NE(buf[i], 0) << i;  // the pattern has no zero bytes
  for (size_t i = 8 * 512; i < 16 * 512; ++i) ASSERT_EQ(buf[i], 0) << i;
}

TEST(VhdFixed, SizeNotWholeMiBIsWarnedAbout) {
  MemFile out("odd");
  ASSERT_TRUE(WriteFull(out, 0, std::vector<uint8_t>(3 * 512, 1)).ok());
  vhd::Footer f;
  f.current_size = f.original_size = 3 * 512;
  f.geometry = vhd::GeometryForSize(f.current_size);
  std::memcpy(f.creator_app.data(), "win ", 4);
  ASSERT_TRUE(WriteFull(out, 3 * 512, vhd::EncodeFooter(f)).ok());
  auto img = OpenMem(out.data());
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->virtual_size(), 3u * 512);
  ASSERT_EQ(img->Warnings().size(), 1u);
  EXPECT_NE(img->Warnings()[0].find("whole number of MiB"), std::string::npos);
}

TEST(VhdFixed, WriterRoundsToWholeMiB) {
  EXPECT_EQ(ContainerVirtualSize(ContainerKind::kVhdFixed, kMiB + 512), 2 * kMiB);
  EXPECT_EQ(ContainerVirtualSize(ContainerKind::kVhdFixed, 2 * kMiB), 2 * kMiB);
  EXPECT_EQ(ContainerVirtualSize(ContainerKind::kVhdDynamic, kMiB + 512), kMiB + 512);
  MemFile out("x");
  EXPECT_FALSE(MakeWriter(ContainerKind::kVhdFixed, out, kMiB + 512, {}).ok());
}

TEST(ImageDetection, PlainDataIsRaw) {
  auto img = OpenMem(Pattern(kMiB, 5));
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->kind(), ContainerKind::kRaw);
}

TEST(ImageDetection, ForcedRawOpensAVhdAsBytes) {
  auto bytes = testing::ValidFixedVhd();
  auto img = OpenMem(bytes, FormatHint::kRaw);
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->virtual_size(), bytes.size());
}

TEST(ImageRead, PastTheEndIsAnError) {
  auto img = OpenMem(testing::ValidFixedVhd());
  ASSERT_NE(img, nullptr);
  std::vector<uint8_t> buf(1024);
  auto st = img->ReadAt(img->virtual_size() - 512, buf);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("past the end"), std::string::npos);
  EXPECT_FALSE(img->ReadAt(~uint64_t{0} - 10, buf).ok());
}

}  // namespace
}  // namespace vhdcrypt

namespace vhdcrypt {
namespace {

// Found by vhd_fuzz: a 512-byte block has a 1-bit bitmap, which still takes a sector.
TEST(VhdDynamic, TinyBlocksStillHaveABitmapSector) {
  EXPECT_EQ(vhd::BitmapBytes(512), 512u);
  EXPECT_EQ(vhd::BitmapBytes(4096), 512u);
  EXPECT_EQ(vhd::BitmapBytes(2 * 1024 * 1024), 512u);
  EXPECT_EQ(vhd::BitmapBytes(4 * 1024 * 1024), 1024u);
  MemFile out("tiny.vhd");
  WriterOptions o;
  o.block_size = 512;
  auto w = MakeWriter(ContainerKind::kVhdDynamic, out, 8 * 512, o);
  ASSERT_TRUE(w.ok());
  std::vector<uint8_t> data(512, 0x77);
  ASSERT_TRUE((*w)->Write(3 * 512, data).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  auto img = OpenImage(std::make_unique<MemFile>("tiny.vhd", out.data()), FormatHint::kAuto);
  ASSERT_TRUE(img.ok()) << img.error().message();
  std::vector<uint8_t> all(8 * 512);
  ASSERT_TRUE((*img)->ReadAt(0, all).ok());
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], (i / 512 == 3) ? 0x77 : 0) << i;
}

}  // namespace
}  // namespace vhdcrypt
