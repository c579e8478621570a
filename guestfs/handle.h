// The only type in the project that touches libguestfs. Each call is a round
// trip to an emulated appliance (a tenth of a second or more under TCG), so
// callers ask for what formats/ cannot tell them from the image bytes alone.
// One handle = one
// appliance launch: drives are added read-only (unless asked otherwise) with
// an explicit format, networking stays off, and every libguestfs error comes
// back as an Error of kind kGuest carrying libguestfs' own message.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "formats/result.h"

struct guestfs_h;

namespace vhdcrypt::guest {

struct Drive {
  std::string path;
  std::string format;  // "raw" or "vpc": always explicit, never probed
  bool readonly = true;
};

struct StatVfs {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // available to unprivileged users
};

class Handle {
 public:
  // Creates the handle, adds the drives and launches the appliance.
  static Result<std::unique_ptr<Handle>> Launch(const std::vector<Drive>& drives);
  ~Handle();
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  Result<std::vector<std::string>> InspectOs();
  // inspect_get_{type,distro,product_name,arch} by name.
  Result<std::string> InspectString(const std::string& what, const std::string& root);
  Result<int> InspectVersion(bool major, const std::string& root);
  // (mountpoint, device) pairs from the guest's fstab as libguestfs resolved it.
  Result<std::vector<std::pair<std::string, std::string>>> InspectMountpoints(const std::string& root);

  // (device, vfs type) pairs.
  Result<std::vector<std::pair<std::string, std::string>>> ListFilesystems();
  // blkid's tags for a device in one round trip: TYPE, UUID, LABEL, ...
  Result<std::map<std::string, std::string>> Blkid(const std::string& dev);
  Result<std::string> VfsType(const std::string& dev);
  Result<uint64_t> DeviceSize(const std::string& dev);
  Result<std::vector<std::string>> Vgs();
  Result<std::vector<std::string>> Lvs();

  Status MountRo(const std::string& dev, const std::string& mountpoint);
  Status UmountAll();

  Result<bool> Exists(const std::string& path);
  Result<bool> IsDir(const std::string& path);
  Result<std::vector<std::string>> Ls(const std::string& dir);
  Result<std::vector<std::string>> Glob(const std::string& pattern);
  Result<std::vector<std::string>> ReadLines(const std::string& path);
  Result<StatVfs> Statvfs(const std::string& path);

 private:
  explicit Handle(guestfs_h* g) : g_(g) {}
  Error Fail(const std::string& op) const;

  guestfs_h* g_;
};

}  // namespace vhdcrypt::guest
