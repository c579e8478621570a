// What the fsmap tests share: running the filesystem tools (mke2fs,
// mkfs.xfs, dumpe2fs, xfs_db) and reading the images they make.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "formats/image.h"
#include "src/fsmap/used_blocks.h"
#include "tests/tools.h"

namespace vhdcrypt::fsmap_test {

// Runs a shell command with /sbin on the PATH; its output, or fails the test.
inline std::string Sh(const std::string& cmd) {
  const testing::ShellResult r = testing::Shell("PATH=$PATH:/sbin:/usr/sbin; " + cmd + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.out;
  return r.out;
}

inline std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  std::vector<uint8_t> bytes(static_cast<size_t>(f.tellg()));
  f.seekg(0).read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

// Maps the filesystem image file `image` (one whole volume) and expects what
// the filesystem's own tool listed: its block size and exactly the used
// extents `expected`, with their total. The map, when there is one.
inline std::optional<UsedBlocks> ExpectMapIs(const std::string& image, uint64_t block_size,
                                             const std::vector<Extent>& expected) {
  auto file = OpenReadOnly(image);
  EXPECT_TRUE(file.ok());
  if (!file.ok()) return std::nullopt;
  auto disk = OpenImage(std::move(*file), FormatHint::kRaw);
  EXPECT_TRUE(disk.ok());
  if (!disk.ok()) return std::nullopt;
  auto map = MapUsedBlocks(**disk, 0, (*disk)->virtual_size(), "fs.img");
  EXPECT_TRUE(map.ok()) << map.error().message();
  if (!map.ok()) return std::nullopt;
  EXPECT_EQ(map->block_size, block_size);
  EXPECT_EQ(map->used, expected);
  uint64_t total = 0;
  for (const Extent& e : expected) total += e.length;
  EXPECT_EQ(map->used_bytes, total);
  return std::move(*map);
}

}  // namespace vhdcrypt::fsmap_test
