// MapUsedBlocks on filesystems made by mke2fs (e2fsprogs, on every Debian
// machine), against dumpe2fs' list of each group's free blocks: the map must
// be exactly their complement, for every layout the encrypt flag meets.
#include "src/fsmap/used_blocks.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "formats/writer.h"
#include "src/crypto/decrypting_image.h"
#include "src/crypto/engine.h"
#include "tests/formats/temp_dir.h"
#include "tests/fsmap/fs_tools.h"

namespace vhdcrypt {
namespace {

using testing::TempDir;

using fsmap_test::ReadAll;
using fsmap_test::Sh;

// Files to put in each filesystem: one of 3 MiB, a tree of small ones.
void MakeTree(const std::string& dir) {
  Sh("mkdir -p " + dir + "/a/b/c");
  Sh("head -c 3145728 /dev/urandom > " + dir + "/big.bin");
  for (int i = 0; i < 60; ++i) {
    std::ofstream(dir + "/a/b/c/f" + std::to_string(i)) << std::string(static_cast<size_t>(i) * 97, 'x');
  }
}

// dumpe2fs' free ranges per group, complemented over [0, blocks): the used
// blocks as byte extents, merged.
std::vector<Extent> UsedFromDumpe2fs(const std::string& image, uint64_t* block_size) {
  const std::string out = Sh("dumpe2fs " + image);
  std::istringstream in(out);
  std::string line;
  uint64_t blocks = 0;
  std::vector<std::pair<uint64_t, uint64_t>> free;
  while (std::getline(in, line)) {
    if (line.rfind("Block count:", 0) == 0) blocks = std::stoull(line.substr(12));
    if (line.rfind("Block size:", 0) == 0) *block_size = std::stoull(line.substr(11));
    if (line.rfind("  Free blocks: ", 0) != 0) continue;
    std::istringstream ranges(line.substr(15));
    std::string r;
    while (std::getline(ranges, r, ',')) {
      if (r.find_first_not_of(' ') == std::string::npos) continue;
      const size_t dash = r.find('-');
      const uint64_t a = std::stoull(r), b = dash == std::string::npos ? a : std::stoull(r.substr(dash + 1));
      free.emplace_back(a, b + 1);
    }
  }
  std::sort(free.begin(), free.end());
  std::vector<Extent> used;
  uint64_t at = 0;
  auto add = [&](uint64_t a, uint64_t b) {
    if (a >= b) return;
    if (!used.empty() && used.back().end() == a * *block_size) {
      used.back().length += (b - a) * *block_size;
    } else {
      used.push_back({a * *block_size, (b - a) * *block_size});
    }
  };
  for (auto [a, b] : free) {
    add(at, a);
    at = b;
  }
  add(at, blocks);
  return used;
}

std::unique_ptr<Image> OpenRaw(std::vector<uint8_t> bytes, const std::string& name = "fs.img") {
  auto img = OpenImage(std::make_unique<MemFile>(name, std::move(bytes)), FormatHint::kRaw);
  EXPECT_TRUE(img.ok());
  return std::move(*img);
}

struct Layout {
  const char* name;
  const char* mkfs;   // mke2fs options
  bool block_uninit;  // some group is BLOCK_UNINIT (its bitmap never written)
  int mib = 300;      // the filesystem's size
};

class ExtLayouts : public ::testing::TestWithParam<Layout> {};

TEST_P(ExtLayouts, MapIsTheComplementOfEveryGroupsFreeBlocks) {
  TempDir dir;
  MakeTree(dir / "src");
  const std::string image = dir / "fs.img";
  Sh("truncate -s " + std::to_string(GetParam().mib) + "M " + image + " && mke2fs -q -F " +
     std::string(GetParam().mkfs) + " -d " + (dir / "src") + " " + image);
  uint64_t bs = 0;
  const std::vector<Extent> expected = UsedFromDumpe2fs(image, &bs);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(Sh("dumpe2fs " + image).find("BLOCK_UNINIT") != std::string::npos, GetParam().block_uninit);

  const auto map = fsmap_test::ExpectMapIs(image, bs, expected);
  ASSERT_TRUE(map.has_value());
  // The files (3 MiB and more) are in it, and most of the filesystem is not.
  const uint64_t fs_bytes = uint64_t(GetParam().mib) << 20;
  EXPECT_GT(map->used_bytes, uint64_t{3} << 20);
  EXPECT_LT(map->used_bytes, fs_bytes / 3);
  EXPECT_EQ(map->fs_bytes, fs_bytes);
}

INSTANTIATE_TEST_SUITE_P(
    Mke2fs, ExtLayouts,
    ::testing::Values(Layout{"ext4_4k", "-t ext4 -b 4096", true, 1024}, Layout{"ext4_1k", "-t ext4 -b 1024", true},
                      Layout{"ext4_no_flex_bg", "-t ext4 -O ^flex_bg", true},
                      Layout{"ext4_lazy_itable", "-t ext4 -E lazy_itable_init=1", true},
                      Layout{"ext4_full_itable", "-t ext4 -E lazy_itable_init=0", true},
                      Layout{"ext4_uninit_bg_32bit", "-t ext4 -O ^metadata_csum,^64bit,uninit_bg", true},
                      Layout{"ext4_64k_blocks", "-t ext4 -b 65536", false}, Layout{"ext3_journal", "-t ext3", false},
                      Layout{"ext2", "-t ext2 -b 2048", false}),
    [](const auto& p) { return std::string(p.param.name); });

// A filesystem made by mke2fs with the tree above in it, its bytes and map.
struct Mapped {
  std::vector<uint8_t> bytes;
  UsedBlocks map;
};
Mapped MakeAndMap(const TempDir& dir, const std::string& size, const std::string& mkfs) {
  MakeTree(dir / "src");
  const std::string image = dir / "fs.img";
  Sh("truncate -s " + size + " " + image + " && mke2fs -q -F " + mkfs + " -d " + (dir / "src") + " " + image);
  Mapped m{ReadAll(image), {}};
  auto raw = OpenRaw(m.bytes);
  auto map = MapUsedBlocks(*raw, 0, raw->virtual_size(), "fs.img");
  EXPECT_TRUE(map.ok()) << map.error().message();
  if (map.ok()) m.map = std::move(*map);
  return m;
}

// A partition 1 MiB into a dynamic VHD: read through formats/, the same map
// as from the raw filesystem, shifted by nothing (extents are volume-relative).
TEST(MapUsedBlocks, ReadsAVolumeInsideADynamicVhd) {
  TempDir dir;
  const Mapped want = MakeAndMap(dir, "32M", "-t ext4");
  const std::vector<uint8_t>& fs = want.bytes;
  ASSERT_FALSE(want.map.used.empty());

  MemFile vhd("disk.vhd");
  const uint64_t at = 1 << 20, disk_size = uint64_t{40} << 20;
  auto writer = MakeWriter(ContainerKind::kVhdDynamic, vhd, disk_size, WriterOptions{});
  ASSERT_TRUE(writer.ok()) << writer.error().message();
  ASSERT_TRUE((*writer)->Write(at, fs).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  auto disk = OpenImage(std::make_unique<MemFile>("disk.vhd", vhd.data()), FormatHint::kAuto);
  ASSERT_TRUE(disk.ok()) << disk.error().message();
  ASSERT_EQ((*disk)->kind(), ContainerKind::kVhdDynamic);
  auto got = MapUsedBlocks(**disk, at, fs.size(), "disk.vhd partition 1");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->used, want.map.used);
  EXPECT_EQ(got->used_bytes, want.map.used_bytes);
}

// An ext4 encrypted with only its used blocks (the engine given the map),
// the rest of the volume never written: the map read back through the volume
// key is the same, and so is every used byte. This is how decrypt and deploy
// will find the blocks of a --skip-free-space output.
TEST(MapUsedBlocks, ThroughTheVolumeKeyOfAnOutputEncryptedWithOnlyItsUsedBlocks) {
  TempDir dir;
  const Mapped m = MakeAndMap(dir, "64M", "-t ext4 -b 4096");
  const std::vector<uint8_t>& fs = m.bytes;
  const UsedBlocks* want = &m.map;
  ASSERT_FALSE(want->used.empty());
  auto plain = OpenRaw(fs);

  std::vector<uint8_t> key(64);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  const uint64_t at = 16 << 20;  // the data segment, after a LUKS2 header's room
  MemFile out("out.img");
  auto writer = MakeWriter(ContainerKind::kRaw, out, at + fs.size(), WriterOptions{});
  ASSERT_TRUE(writer.ok());
  VolumeJob job{plain.get(), 0, fs.size(), writer->get(), at, key, 4096, Direction::kEncrypt};
  job.only = &want->used;
  ASSERT_TRUE(RunVolumeJob(job, {}).ok());
  ASSERT_TRUE((*writer)->Finish().ok());

  auto encrypted = OpenRaw(out.data(), "out.img");
  auto view = DecryptingImage::Open(*encrypted, at, fs.size(), key, 4096);
  ASSERT_TRUE(view.ok()) << view.error().message();
  auto got = MapUsedBlocks(**view, 0, fs.size(), "out.img partition 1");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->used, want->used);
  for (const Extent& e : want->used) {
    std::vector<uint8_t> bytes(e.length);
    ASSERT_TRUE((*view)->ReadAt(e.offset, bytes).ok());
    ASSERT_TRUE(std::equal(bytes.begin(), bytes.end(), fs.begin() + static_cast<ptrdiff_t>(e.offset)));
  }
  // Nothing was written outside the used blocks: those bytes are still zero.
  const auto zero = [&](uint64_t from, uint64_t to) {
    return std::all_of(out.data().begin() + static_cast<ptrdiff_t>(at + from),
                       out.data().begin() + static_cast<ptrdiff_t>(at + to), [](uint8_t b) { return b == 0; });
  };
  uint64_t at_free = 0;
  for (const Extent& e : want->used) {
    EXPECT_TRUE(zero(at_free, e.offset)) << at_free << ".." << e.offset;
    at_free = e.end();
  }
  EXPECT_TRUE(zero(at_free, fs.size()));
}

// A small ext4 made once, then damaged by each case.
std::vector<uint8_t> SmallExt4(const TempDir& dir, const std::string& options = "-t ext4") {
  const std::string image = dir / "small.img";
  Sh("rm -f " + image + " && truncate -s 8M " + image + " && mke2fs -q -F " + options + " " + image);
  return ReadAll(image);
}

void Put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v);
  b[at + 1] = static_cast<uint8_t>(v >> 8);
}
void Put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

struct Refusal {
  const char* name;
  std::function<void(std::vector<uint8_t>&)> damage;
  const char* says;
};

TEST(MapUsedBlocks, RefusesWhatItCannotMapSafely) {
  TempDir dir;
  const std::vector<uint8_t> good = SmallExt4(dir);
  constexpr size_t sb = 1024;
  const std::vector<Refusal> cases = {
      {"errors flag", [](auto& b) { Put16(b, sb + 58, 0x3); }, "errors flag set"},
      {"not clean", [](auto& b) { Put16(b, sb + 58, 0x0); }, "not cleanly unmounted"},
      {"needs recovery", [](auto& b) { b[sb + 96] |= 0x4; }, "journal needs recovery"},
      {"bigalloc", [](auto& b) { b[sb + 101] |= 0x2; }, "bigalloc"},
      {"journal device", [](auto& b) { b[sb + 96] |= 0x8; }, "external ext journal"},
      {"block size 128 KiB", [](auto& b) { Put32(b, sb + 24, 7); }, "is not 1 KiB to 64 KiB"},
      {"more blocks than the volume", [](auto& b) { Put32(b, sb + 4, 1u << 30); }, "more than its volume"},
      {"64bit count past the volume",
       [](auto& b) {
         b[sb + 96] |= 0x80;
         Put32(b, sb + 336, 1);
       },
       "more than its volume"},
      {"no blocks",
       [](auto& b) {
         Put32(b, sb + 4, 0);
         b[sb + 96] &= 0x7f;
       },
       "0 blocks"},
      {"no superblock", [](auto& b) { Put16(b, sb + 56, 0); }, "no ext2/3/4 or XFS filesystem"},
      {"XFS magic on an ext4", [](auto& b) { std::memcpy(b.data(), "XFSB", 4); }, "XFS: superblock version"},
      {"checksum of the superblock", [](auto& b) { b[sb + 120] ^= 0xff; }, "opening the ext filesystem"},
  };
  for (const Refusal& c : cases) {
    std::vector<uint8_t> bytes = good;
    c.damage(bytes);
    auto disk = OpenRaw(bytes, "bad.img");
    auto map = MapUsedBlocks(*disk, 0, disk->virtual_size(), "bad.img partition 1");
    ASSERT_FALSE(map.ok()) << c.name;
    EXPECT_EQ(map.error().kind(), ErrorKind::kInvalidInput) << c.name;
    EXPECT_EQ(map.error().message().rfind("bad.img partition 1: ", 0), 0u) << c.name << ": " << map.error().message();
    EXPECT_NE(map.error().message().find(c.says), std::string::npos) << c.name << ": " << map.error().message();
  }
}

// Group descriptors pointing the bitmaps outside the filesystem (checksums
// off, so only the pointers are wrong): libext2fs' refusal, in our words.
TEST(MapUsedBlocks, ABitmapOutsideTheFilesystemIsRefused) {
  TempDir dir;
  std::vector<uint8_t> bytes = SmallExt4(dir, "-t ext4 -b 1024 -O ^metadata_csum,^64bit,^uninit_bg,^flex_bg");
  // 1 KiB blocks: superblock in block 1, descriptors in block 2; the first
  // descriptor's block bitmap pointer at +0.
  Put32(bytes, 2048, 0x7ffffff0);
  auto disk = OpenRaw(bytes, "bad.img");
  auto map = MapUsedBlocks(*disk, 0, disk->virtual_size(), "bad.img");
  ASSERT_FALSE(map.ok());
  EXPECT_EQ(map.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_EQ(map.error().message().rfind("bad.img: ", 0), 0u) << map.error().message();
}

// An image whose reads fail past some offset: the I/O error is reported as
// such (exit 4), not as a malformed filesystem.
class FailingImage : public Image {
 public:
  FailingImage(std::unique_ptr<Image> inner, uint64_t fail_from) : inner_(std::move(inner)), fail_from_(fail_from) {}
  const std::string& path() const override { return inner_->path(); }
  ContainerKind kind() const override { return inner_->kind(); }
  uint64_t virtual_size() const override { return inner_->virtual_size(); }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) override {
    if (offset + buf.size() > fail_from_) return IoError(path() + ": read error at " + std::to_string(offset));
    return inner_->ReadAt(offset, buf);
  }
  Result<std::vector<Extent>> AllocatedExtents() override { return inner_->AllocatedExtents(); }

 private:
  std::unique_ptr<Image> inner_;
  uint64_t fail_from_;
};

TEST(MapUsedBlocks, AReadErrorIsAnIoError) {
  TempDir dir;
  FailingImage disk(OpenRaw(SmallExt4(dir), "eio.img"), 8192);
  auto map = MapUsedBlocks(disk, 0, disk.virtual_size(), "eio.img");
  ASSERT_FALSE(map.ok());
  EXPECT_EQ(map.error().kind(), ErrorKind::kIo) << map.error().message();
  EXPECT_NE(map.error().message().find("read error"), std::string::npos) << map.error().message();
}

}  // namespace
}  // namespace vhdcrypt
