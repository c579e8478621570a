// The guest operations that the edits inside a guest use (src/guest), as an
// interface: Handle implements it over a libguestfs appliance, and unit tests
// implement it in memory (tests/guest/fake_guest.h), so every edit can be
// tried in milliseconds. Paths are the guest's, with its root at /.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace vhdcrypt::guest {

// The most vhdcrypt reads of a guest's configuration file (fstab, crypttab,
// modprobe.d, os-release, GRUB's defaults): such files are a few KiB.
inline constexpr uint64_t kMaxConfigFileBytes = uint64_t{1} << 20;

class Ops {
 public:
  virtual ~Ops() = default;

  virtual Result<bool> Exists(const std::string& path) = 0;
  virtual Result<bool> IsDir(const std::string& path) = 0;
  virtual Result<std::vector<std::string>> Ls(const std::string& dir) = 0;
  virtual Result<std::vector<std::string>> Glob(const std::string& pattern) = 0;
  // A file's lines; a file over kMaxConfigFileBytes, or one that is not a
  // regular file, is an error naming it.
  virtual Result<std::vector<std::string>> ReadLines(const std::string& path) = 0;
  // A file's lines, or none when it does not exist.
  virtual Result<std::vector<std::string>> ReadLinesIfExists(const std::string& path) = 0;

  virtual Status Mount(const std::string& dev, const std::string& mountpoint) = 0;
  virtual Status Umount(const std::string& mountpoint) = 0;
  virtual Status UmountAll() = 0;
  virtual Status Write(const std::string& path, const std::string& content) = 0;
  // Bytes that may be secret: written from the caller's buffer, no copy kept.
  virtual Status WriteBytes(const std::string& path, std::span<const uint8_t> content) = 0;
  virtual Status Mkdir(const std::string& path) = 0;  // with parents; an existing directory is fine
  virtual Status Chmod(int mode, const std::string& path) = 0;
  virtual Status CopyTree(const std::string& from, const std::string& to) = 0;  // cp -a
  virtual Status RemoveTree(const std::string& path) = 0;                       // rm -rf
  virtual Status Rmdir(const std::string& path) = 0;
  // mkfs with a filesystem label, on a device or partition.
  virtual Status Mkfs(const std::string& fstype, const std::string& dev, const std::string& label) = 0;
  // blkid's tags for a device: TYPE, UUID, LABEL, ...
  virtual Result<std::map<std::string, std::string>> Blkid(const std::string& dev) = 0;
  // A program of the guest run in its chroot; its stdout. A non-zero exit is
  // an error carrying the program's stderr.
  virtual Result<std::string> Command(const std::vector<std::string>& argv) = 0;
};

}  // namespace vhdcrypt::guest
