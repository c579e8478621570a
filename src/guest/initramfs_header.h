// A detached OS header where it lives: its file on /boot and the copy inside
// the guest's initramfs images (the initramfs opens the OS volume before
// /boot is mounted). Used by rekey and deploy, which both give the OS volume
// a new header.
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

// The header file `header_path` on the filesystem `device` replaced by
// `header` (written in place when the sizes match, keeping the file's inode
// and labels), appended to the initramfs images beside it, then read back;
// `what` names it in errors. Leaves nothing mounted. Returns how many
// initramfs images got it.
Result<size_t> ReplaceDetachedHeader(guest::Handle& g, const std::string& device, const std::string& header_path,
                                     const std::vector<uint8_t>& header, const std::string& what);

}  // namespace vhdcrypt
