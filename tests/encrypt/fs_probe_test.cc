#include "src/plan/fs_probe.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vhdcrypt {
namespace {

std::unique_ptr<Image> DiskWith(std::vector<uint8_t> bytes) {
  auto img = OpenImage(std::make_unique<MemFile>("fs.img", std::move(bytes)), FormatHint::kRaw);
  EXPECT_TRUE(img.ok());
  return std::move(*img);
}

std::vector<uint8_t> Ext(uint32_t log_block_size, uint64_t at) {
  std::vector<uint8_t> b(at + 64 * 1024, 0);
  b[at + 1024 + 24] = static_cast<uint8_t>(log_block_size);
  b[at + 1024 + 56] = 0x53;
  b[at + 1024 + 57] = 0xEF;
  b[at + 1024 + 96] = 0x40;  // extents: ext4
  for (int i = 0; i < 16; ++i) b[at + 1024 + 104 + i] = static_cast<uint8_t>(0xA0 + i);
  return b;
}

std::vector<uint8_t> Xfs(uint16_t sectsize) {
  std::vector<uint8_t> b(64 * 1024, 0);
  std::memcpy(b.data(), "XFSB", 4);
  for (int i = 0; i < 16; ++i) b[32 + i] = static_cast<uint8_t>(i);
  b[102] = static_cast<uint8_t>(sectsize >> 8);
  b[103] = static_cast<uint8_t>(sectsize);
  return b;
}

TEST(ProbeFilesystem, ExtBlockSizeDecidesTheSectorSize) {
  auto img = DiskWith(Ext(2, 4096));  // 4 KiB blocks, filesystem at 4096
  auto p = ProbeFilesystem(*img, 4096, 64 * 1024);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->type, "ext4");
  EXPECT_EQ(p->uuid, "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
  EXPECT_EQ(p->min_io, 4096u);
  EXPECT_EQ(ChooseSectorSize(*p, 64 * 1024), 4096u);
  EXPECT_EQ(ChooseSectorSize(*p, 64 * 1024 + 512), 512u);  // volume not whole 4 KiB sectors

  auto small = DiskWith(Ext(0, 0));  // 1 KiB blocks
  auto q = ProbeFilesystem(*small, 0, 64 * 1024);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->min_io, 1024u);
  EXPECT_EQ(ChooseSectorSize(*q, 64 * 1024), 512u);
}

TEST(ProbeFilesystem, ExtVersionFromFeatures) {
  auto b = Ext(2, 0);
  b[1024 + 96] = 0;
  b[1024 + 92] = 0x4;  // has_journal
  auto p = ProbeFilesystem(*DiskWith(b), 0, 64 * 1024);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->type, "ext3");
  b[1024 + 92] = 0;
  p = ProbeFilesystem(*DiskWith(b), 0, 64 * 1024);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->type, "ext2");
}

TEST(ProbeFilesystem, XfsSectorSizeNotBlockSizeDecides) {
  auto a = DiskWith(Xfs(512));
  auto p = ProbeFilesystem(*a, 0, 64 * 1024);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->type, "xfs");
  EXPECT_EQ(p->uuid, "00010203-0405-0607-0809-0a0b0c0d0e0f");
  EXPECT_EQ(ChooseSectorSize(*p, 64 * 1024), 512u);
  auto b = DiskWith(Xfs(4096));
  auto q = ProbeFilesystem(*b, 0, 64 * 1024);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(ChooseSectorSize(*q, 64 * 1024), 4096u);
  auto c = DiskWith(Xfs(3000));  // nonsense: fall back to the safe size
  auto r = ProbeFilesystem(*c, 0, 64 * 1024);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ChooseSectorSize(*r, 64 * 1024), 512u);
}

TEST(ProbeFilesystem, UnknownOrTinyMeans512) {
  auto img = DiskWith(std::vector<uint8_t>(64 * 1024, 0x5A));
  auto p = ProbeFilesystem(*img, 0, 64 * 1024);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->type, "");
  EXPECT_EQ(ChooseSectorSize(*p, 64 * 1024), 512u);
  auto tiny = ProbeFilesystem(*img, 0, 1024);
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ(tiny->min_io, 512u);
  EXPECT_FALSE(ProbeFilesystem(*img, 63 * 1024, 4096).ok());  // past the end of the disk
}

}  // namespace
}  // namespace vhdcrypt
