// The copy of a detached OS header inside the guest's initramfs images (the
// initramfs opens the OS volume before /boot is mounted). Used by rekey and
// deploy, which both give the OS volume a new header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "guestfs/handle.h"

namespace vhdcrypt {

// Each initramfs image (initrd.img-*, initramfs-*.img; not kdump's) in the
// directory that holds luks/osluksheader (`header_path`, on a mounted
// filesystem of `g`) gets a small cpio archive appended with `header` at
// /boot/luks/osluksheader, which the kernel unpacks after the original and so
// uses instead of the old copy. Returns how many images.
Result<size_t> AppendHeaderToInitramfs(guest::Handle& g, const std::string& header_path,
                                       const std::vector<uint8_t>& header);

}  // namespace vhdcrypt
