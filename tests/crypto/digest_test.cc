#include "src/digest.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::string WriteFile(const std::string& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::span<const uint8_t> Part(const Bytes& b, size_t offset, size_t n) { return std::span(b).subspan(offset, n); }

TEST(Digest, Sha256FileMatchesTheStandardVector) {
  testing::TempDir dir;
  const std::string path = WriteFile(dir / "abc", Bytes{'a', 'b', 'c'});
  std::atomic<bool> stop{false};
  auto h = Sha256File(path, stop);
  ASSERT_TRUE(h.ok()) << h.error().message();
  EXPECT_EQ(*h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Whatever the caller feeds (gaps, overlaps, repeats, ranges past the end),
// the digest is the file's: it reads the parts nobody fed.
TEST(Digest, FedPiecesGiveTheFilesDigest) {
  testing::TempDir dir;
  const Bytes data = Random(9 << 20, 3);  // more than one of the digest's own reads
  const std::string path = WriteFile(dir / "in.raw", data);
  std::atomic<bool> stop{false};
  auto whole = Sha256File(path, stop);
  ASSERT_TRUE(whole.ok());
  struct Piece {
    size_t offset, size;
  };
  const std::vector<std::vector<Piece>> plans = {
      {},                                                 // nothing fed: all read
      {{0, data.size()}},                                 // everything fed
      {{1 << 20, 5 << 20}},                               // a gap before and after
      {{0, 4096}, {4096, 4096}, {2048, 8192}, {8192, 1}},  // overlaps and a repeat
      {{100, 50}, {7 << 20, 2 << 20}},                    // a gap of several reads
      {{(9 << 20) - 10, 10}},                             // the last bytes only
  };
  for (size_t p = 0; p < plans.size(); ++p) {
    SCOPED_TRACE("plan " + std::to_string(p));
    auto d = FileDigest::Open(path);
    ASSERT_TRUE(d.ok());
    for (const Piece& piece : plans[p]) ASSERT_TRUE((*d)->Feed(piece.offset, Part(data, piece.offset, piece.size)).ok());
    // Past the end of the file: ignored.
    const Bytes extra(4096, 0xee);
    ASSERT_TRUE((*d)->Feed(data.size() - 2048, extra).ok());
    ASSERT_TRUE((*d)->Feed(data.size() + 4096, extra).ok());
    auto h = (*d)->Finish(stop);
    ASSERT_TRUE(h.ok()) << h.error().message();
    EXPECT_EQ(*h, *whole);
  }
}

// The fed bytes are used as they are (they are the caller's reads of the
// file), so bytes that differ from the file's change the digest.
TEST(Digest, FedBytesAreHashedAsGiven) {
  testing::TempDir dir;
  const Bytes data = Random(1 << 20, 4);
  const std::string path = WriteFile(dir / "in.raw", data);
  std::atomic<bool> stop{false};
  auto whole = Sha256File(path, stop);
  ASSERT_TRUE(whole.ok());
  Bytes changed(data.begin() + 4096, data.begin() + 8192);
  changed[7] ^= 1;
  auto d = FileDigest::Open(path);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE((*d)->Feed(4096, changed).ok());
  auto h = (*d)->Finish(stop);
  ASSERT_TRUE(h.ok());
  EXPECT_NE(*h, *whole);
}

TEST(Digest, StopCancelsTheReadAndAMissingFileIsNamed) {
  testing::TempDir dir;
  const std::string path = WriteFile(dir / "in.raw", Random(1 << 20, 5));
  std::atomic<bool> stop{true};
  auto d = FileDigest::Open(path);
  ASSERT_TRUE(d.ok());
  auto h = (*d)->Finish(stop);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().message(), path + ": hashing cancelled");
  auto missing = FileDigest::Open(dir / "nope.raw");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find(dir / "nope.raw"), std::string::npos) << missing.error().message();
}

}  // namespace
}  // namespace vhdcrypt
