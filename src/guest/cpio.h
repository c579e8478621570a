// A "newc" cpio archive (the format of Linux initramfs images), for appending
// to an initramfs: the kernel unpacks concatenated archives in order and a
// later file replaces an earlier one of the same path. rekey uses it to put a
// changed detached LUKS header into the guest's initramfs images without
// rebuilding them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vhdcrypt {

struct CpioEntry {
  std::string path;   // relative, no leading slash: "boot/luks/osluksheader"
  uint32_t mode = 0;  // with the type bits: 040755 for a directory, 0100600 for a file
  std::vector<uint8_t> data;
};

// The entries, then the TRAILER!!! record; every header and body padded to 4
// bytes; the whole padded with zeros to a multiple of 512.
std::vector<uint8_t> NewcArchive(const std::vector<CpioEntry>& entries, uint32_t mtime);

}  // namespace vhdcrypt
