#include "src/crypto/digest.h"

#include <gtest/gtest.h>

#include <string>

#include "formats/io.h"

namespace vhdcrypt {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// FIPS 180-2's examples, and the same bytes through a virtual disk.
TEST(Sha256, BytesAndRangesGiveTheStandardDigests) {
  EXPECT_EQ(*Sha256Bytes(Bytes("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(*Sha256Bytes({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::vector<uint8_t> disk(1024, 0);
  const std::string abc = "abc";
  std::copy(abc.begin(), abc.end(), disk.begin() + 512);
  auto image = OpenImage(std::make_unique<MemFile>("d.img", disk), FormatHint::kRaw);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(*Sha256Range(**image, 512, 3), *Sha256Bytes(Bytes("abc")));
}

}  // namespace
}  // namespace vhdcrypt
