#include "src/guest/cpio.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// GNU cpio (the peer) unpacks what we write, after an archive of its own, as
// the kernel unpacks an initramfs with an archive appended: the later file wins.
TEST(NewcArchive, GnuCpioUnpacksItAfterAnotherArchive) {
  testing::TempDir dir;
  std::vector<uint8_t> header(70000);
  for (size_t i = 0; i < header.size(); ++i) header[i] = static_cast<uint8_t>(i * 7 + 3);
  auto archive = NewcArchive(
      {{"boot", 040755, {}}, {"boot/luks", 040700, {}}, {"boot/luks/osluksheader", 0100600, header}}, 1700000000);
  EXPECT_EQ(archive.size() % 512, 0u);
  EXPECT_EQ(std::string(archive.begin(), archive.begin() + 6), "070701");
  // The first archive: an old osluksheader, made by cpio itself.
  std::filesystem::create_directories(dir / "old/boot/luks");
  std::ofstream(dir / "old/boot/luks/osluksheader") << "old header";
  const std::string make_old = "cd " + (dir / "old") +
                               " && printf 'boot\\nboot/luks\\nboot/luks/osluksheader\\n' | "
                               "cpio -o -H newc --quiet > " +
                               (dir / "initrd.img");
  ASSERT_EQ(std::system(make_old.c_str()), 0);
  {
    std::ofstream out(dir / "initrd.img", std::ios::binary | std::ios::app);
    const auto size = std::filesystem::file_size(dir / "initrd.img");
    for (size_t i = 0; i < (4 - size % 4) % 4; ++i) out.put('\0');
    out.write(reinterpret_cast<const char*>(archive.data()), static_cast<std::streamsize>(archive.size()));
  }
  std::filesystem::create_directories(dir / "x");
  // cpio stops at the first trailer; the kernel goes on. Unpack ours alone, at its offset.
  const std::string unpack = "cd " + (dir / "x") + " && tail -c " + std::to_string(archive.size()) + " " +
                             (dir / "initrd.img") + " | cpio -idm --quiet";
  ASSERT_EQ(std::system(unpack.c_str()), 0);
  EXPECT_EQ(ReadAll(dir / "x/boot/luks/osluksheader"), header);
  auto perms = std::filesystem::status(dir / "x/boot/luks/osluksheader").permissions();
  EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_TRUE(std::filesystem::is_directory(dir / "x/boot/luks"));
}

}  // namespace
}  // namespace vhdcrypt
