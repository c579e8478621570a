#include "src/guest/cpio.h"

#include <cstdio>

namespace vhdcrypt {
namespace {

void Pad(std::vector<uint8_t>& out, size_t to) {
  while (out.size() % to != 0) out.push_back(0);
}

void Header(std::vector<uint8_t>& out, uint32_t ino, uint32_t mode, uint32_t mtime, uint32_t size,
            const std::string& name) {
  char fields[6 + 13 * 8 + 1];
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
  // rdevmajor, rdevminor, namesize (with its NUL), check.
  std::snprintf(fields, sizeof fields, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0u, 0u,
                (mode & 0170000) == 0040000 ? 2u : 1u, mtime, size, 0u, 0u, 0u, 0u,
                static_cast<uint32_t>(name.size() + 1), 0u);
  out.insert(out.end(), fields, fields + 6 + 13 * 8);
  out.insert(out.end(), name.begin(), name.end());
  out.push_back(0);
  Pad(out, 4);
}

}  // namespace

std::vector<uint8_t> NewcArchive(const std::vector<CpioEntry>& entries, uint32_t mtime) {
  std::vector<uint8_t> out;
  uint32_t ino = 0x7a000000;  // away from the inode numbers of the archive this follows
  for (const CpioEntry& e : entries) {
    Header(out, ++ino, e.mode, mtime, static_cast<uint32_t>(e.data.size()), e.path);
    out.insert(out.end(), e.data.begin(), e.data.end());
    Pad(out, 4);
  }
  Header(out, 0, 0, 0, 0, "TRAILER!!!");
  Pad(out, 512);
  return out;
}

}  // namespace vhdcrypt
