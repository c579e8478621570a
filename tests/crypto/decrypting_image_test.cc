#include "src/crypto/decrypting_image.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "formats/writer.h"
#include "src/crypto/engine.h"

namespace vhdcrypt {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// `plain` encrypted by the engine into a raw disk of `disk_size` at `at`.
Bytes Encrypted(const Bytes& plain, const Bytes& key, uint32_t sector, uint64_t at, uint64_t disk_size) {
  auto src = RawImage::Open(std::make_unique<MemFile>("plain.img", plain));
  EXPECT_TRUE(src.ok());
  MemFile file("enc.img");
  auto writer = MakeWriter(ContainerKind::kRaw, file, disk_size, {});
  EXPECT_TRUE(writer.ok());
  const VolumeJob job{src->get(), 0, plain.size(), writer->get(), at, key, sector, Direction::kEncrypt};
  EXPECT_TRUE(RunVolumeJob(job, {2, 64 * 1024}).ok());
  EXPECT_TRUE((*writer)->Finish().ok());
  return file.data();
}

TEST(DecryptingImage, ReadsThePlaintextAtAnyOffsetAndLength) {
  const Bytes key = Random(64, 1);
  for (uint32_t sector : {512u, 4096u}) {
    SCOPED_TRACE("sector " + std::to_string(sector));
    const Bytes plain = Random(3 * 1024 * 1024 + 5 * 4096, sector);
    const uint64_t at = 1024 * 1024 + 512;
    auto disk = RawImage::Open(std::make_unique<MemFile>("enc.img", Encrypted(plain, key, sector, at, 5 << 20)));
    ASSERT_TRUE(disk.ok());
    auto view = DecryptingImage::Open(**disk, at, plain.size(), key, sector);
    ASSERT_TRUE(view.ok()) << view.error().message();
    EXPECT_EQ((*view)->virtual_size(), plain.size());
    EXPECT_NE((*view)->path().find("enc.img"), std::string::npos);

    Bytes all(plain.size());
    ASSERT_TRUE((*view)->ReadAt(0, all).ok());
    EXPECT_TRUE(all == plain);
    std::mt19937_64 rng(sector);
    for (int i = 0; i < 300; ++i) {
      const uint64_t off = rng() % plain.size();
      const uint64_t len = 1 + rng() % std::min<uint64_t>(plain.size() - off, i % 10 == 0 ? 2 << 20 : 9000);
      Bytes got(len);
      ASSERT_TRUE((*view)->ReadAt(off, got).ok()) << off << "+" << len;
      ASSERT_TRUE(std::equal(got.begin(), got.end(), plain.begin() + static_cast<ptrdiff_t>(off))) << off << "+" << len;
    }
    Bytes one(1);
    EXPECT_FALSE((*view)->ReadAt(plain.size(), one).ok());
  }
}

TEST(DecryptingImage, RefusesAViewThatDoesNotFit) {
  const Bytes key = Random(64, 2);
  auto disk = RawImage::Open(std::make_unique<MemFile>("enc.img", Bytes(1 << 20)));
  ASSERT_TRUE(disk.ok());
  EXPECT_EQ(DecryptingImage::Open(**disk, 100, 4096, key, 4096).error().kind(), ErrorKind::kUsage);
  EXPECT_EQ(DecryptingImage::Open(**disk, 0, 4096 + 512, key, 4096).error().kind(), ErrorKind::kUsage);
  EXPECT_FALSE(DecryptingImage::Open(**disk, 512 * 1024, 1 << 20, key, 512).ok());
  EXPECT_FALSE(DecryptingImage::Open(**disk, 0, 4096, Bytes(64, 7), 512).ok());  // equal key halves
}

}  // namespace
}  // namespace vhdcrypt
