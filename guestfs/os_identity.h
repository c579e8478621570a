// Which operating system a root filesystem holds, worked out by vhdcrypt from
// the guest's own files the way libguestfs 1.48's inspect_os does (its daemon's
// inspect_fs_unix.ml: the same release files in the same order, the same
// distro names), without its costs: inspect_os lists every filesystem again
// (parted three times per partition) and loads fstab through augeas, about
// 13 s idle and 26 s under load without KVM, for facts vhdcrypt already has.
// Pure: the appliance part (which files exist, their bytes) is a reader the
// caller gives, so the rules of identification are tested without one.
// Guest text is hostile: no regular expressions, linear scans, bounded numbers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "guestfs/facts.h"

namespace vhdcrypt::guest {

// A guest file's lines, symlinks followed inside the guest; nullopt when it is
// missing, not a regular file, or cannot be read within the configuration
// file limit (libguestfs skips such a release file and goes on to the next).
using GuestFileReader = std::function<std::optional<std::vector<std::string>>(const std::string& path)>;

// distro, product_name, major and minor of a Linux root, as inspect_get_*
// report them: "unknown" for a distro or product libguestfs would not know,
// 0.0 for a version it could not read.
struct LinuxIdentity {
  std::string distro = "unknown";
  std::string product_name = "unknown";
  int major = 0;
  int minor = 0;
};
LinuxIdentity IdentifyLinux(const GuestFileReader& read);

// The binaries whose ELF header names the guest's architecture, in the order
// libguestfs tries them.
inline constexpr const char* kArchBinaries[] = {"/bin/bash", "/bin/ls", "/bin/echo", "/bin/rm", "/bin/sh"};
inline constexpr size_t kElfHeaderBytes = 20;  // through e_machine
// "x86_64", "i386", "aarch64", ... from the first kElfHeaderBytes of an ELF
// file, with libguestfs' names; "" when the bytes are not an ELF header or
// name a machine libguestfs has no name for.
std::string ElfArchitecture(std::span<const uint8_t> header);

// The filesystems the guest's fstab mounts, (mount point, appliance device),
// in fstab order: entries that resolve (guestfs/fstab_spec.h) to one of
// `filesystems`, mount points canonical ("//usr/" is "/usr"). Left out, as
// libguestfs leaves them out: swap and other mount points not under /,
// removable media, /dev, /proc, /sys, /selinux and /media/...; and / itself,
// which is the root that was inspected, whatever its fstab line says.
std::vector<std::pair<std::string, std::string>> FstabMountpoints(const std::vector<FstabEntry>& fstab,
                                                                  const std::vector<Filesystem>& filesystems);

}  // namespace vhdcrypt::guest
