// Small files and disks the CLI tests make on the host (mke2fs -d: no mount,
// no appliance).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/formats/temp_dir.h"

namespace vhdcrypt::testing {

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline unsigned Mode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// A 64 MiB disk holding ext4 (4 KiB blocks unless told) with one file.
inline std::string MakeExt4Disk(const TempDir& dir, const std::string& name, int block_size = 4096) {
  const std::string tree = dir / (name + "-tree");
  std::filesystem::create_directories(tree);
  WriteText(tree + "/hello.txt", "hello\n");
  const std::string img = dir / name;
  const std::string cmd = "truncate -s 64M '" + img + "' && mkfs.ext4 -q -F -b " + std::to_string(block_size) +
                          " -d '" + tree + "' '" + img + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return img;
}

}  // namespace vhdcrypt::testing
