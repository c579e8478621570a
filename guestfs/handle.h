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
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "guestfs/ops.h"

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

class Handle : public Ops {
 public:
  // Creates the handle, adds the drives and launches the appliance. A
  // `sensitive` handle will carry keys: libguestfs call tracing is forced off
  // whatever LIBGUESTFS_TRACE says.
  static Result<std::unique_ptr<Handle>> Launch(const std::vector<Drive>& drives, bool sensitive = false);
  ~Handle() override;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // Whole disks and partitions the appliance sees ("/dev/sda", "/dev/sda1").
  Result<std::vector<std::string>> ListDevices();
  Result<std::vector<std::string>> ListPartitions();
  Result<std::vector<std::string>> ListMdDevices();
  // blkid's tags for a device in one round trip: TYPE, UUID, LABEL, ...
  Result<std::map<std::string, std::string>> Blkid(const std::string& dev) override;
  Result<std::string> VfsType(const std::string& dev);
  Result<uint64_t> DeviceSize(const std::string& dev);
  Result<std::vector<std::string>> Vgs();
  Result<std::vector<std::string>> Lvs();
  // LVM physical volumes ("/dev/sda2") with their PV UUIDs; the PV UUIDs of
  // a volume group. UUIDs as LVM prints them without dashes (32 chars).
  Result<std::vector<std::pair<std::string, std::string>>> PvUuids();
  Result<std::vector<std::string>> VgPvUuids(const std::string& vg);
  Result<std::string> PvUuid(const std::string& pv);
  // Activates (or deactivates) every volume group the appliance can see,
  // rescanning first: for a PV that was just unlocked.
  Status ActivateVolumeGroups(bool activate);

  Status MountRo(const std::string& dev, const std::string& mountpoint);
  Status UmountAll() override;

  Result<bool> Exists(const std::string& path) override;
  Result<bool> IsDir(const std::string& path) override;
  // Whether path is a regular file itself (a symlink is not followed).
  Result<bool> IsRegularFile(const std::string& path);
  // Where a symlink points, as written; nullopt when path is not a symlink.
  Result<std::optional<std::string>> SymlinkTarget(const std::string& path);
  Result<std::vector<std::string>> Ls(const std::string& dir) override;
  Result<std::vector<std::string>> Glob(const std::string& pattern) override;
  // Guest files are hostile input: both read as ReadGuestLines does, with the
  // limit for configuration files.
  Result<std::vector<std::string>> ReadLines(const std::string& path) override;
  // A file's lines, or none when it does not exist.
  Result<std::vector<std::string>> ReadLinesIfExists(const std::string& path) override;
  // A guest file's lines, read with a bound: symlinks are followed inside the
  // guest (a dangling one, like a missing file, gives nullopt); only a regular
  // file is read (/dev/null as empty), of at most max_bytes, straight into
  // memory (never through a host temporary file); anything else is an error
  // of kind kInvalidInput naming the file.
  Result<std::optional<std::vector<std::string>>> ReadGuestLines(const std::string& path, uint64_t max_bytes);
  // Raw bytes of a device, and writes to a device or an existing file, in
  // pieces under libguestfs' message limit.
  Result<std::vector<uint8_t>> PreadDevice(const std::string& dev, uint64_t size, uint64_t offset);
  Status PwriteDevice(const std::string& dev, std::span<const uint8_t> data, uint64_t offset);
  Status PwriteFile(const std::string& path, std::span<const uint8_t> data, uint64_t offset);
  // Appends to an existing file, in pieces; its size in bytes.
  Status AppendBytes(const std::string& path, std::span<const uint8_t> data);
  Result<uint64_t> FileSize(const std::string& path);
  // The first max_bytes (or fewer) of a file that IsNonEmptyFile; none of
  // anything else (so a FIFO or a device is never read).
  Result<std::vector<uint8_t>> ReadHead(const std::string& path, size_t max_bytes);
  // Whether path is (or links, inside the guest, to) a regular file of at
  // least one byte; false when it is missing, dangling or anything else.
  Result<bool> IsNonEmptyFile(const std::string& path);
  // A whole file's bytes (any size up to max_bytes), read in pieces under
  // libguestfs' message limit.
  Result<std::vector<uint8_t>> ReadBytes(const std::string& path, uint64_t max_bytes);
  Result<StatVfs> Statvfs(const std::string& path);

  // Writing (drives added with readonly = false).
  Status Mount(const std::string& dev, const std::string& mountpoint) override;
  Status Write(const std::string& path, const std::string& content) override;
  // Writes bytes that may be secret (a passphrase): straight from the
  // caller's buffer, no copy kept.
  Status WriteBytes(const std::string& path, std::span<const uint8_t> content) override;
  Status Mkdir(const std::string& path) override;  // with parents; an existing directory is fine
  Status Chmod(int mode, const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to);
  // `cp -a from to` inside the appliance (owners, modes, links, times kept).
  Status CopyTree(const std::string& from, const std::string& to) override;
  Status RemoveTree(const std::string& path) override;  // rm -rf
  Status Rmdir(const std::string& path) override;
  Status Umount(const std::string& mountpoint) override;
  // mkfs with a filesystem label, on a device or partition.
  Status Mkfs(const std::string& fstype, const std::string& dev, const std::string& label) override;
  // Runs a program of the guest in its chroot (the root filesystem mounted
  // on /, with /dev, /proc and /sys bound by libguestfs); returns its stdout.
  // A non-zero exit is an error carrying the program's stderr.
  Result<std::string> Command(const std::vector<std::string>& argv) override;
  // Flushes and stops the appliance, reporting errors a destructor would
  // swallow. Call it before trusting anything written.
  Status Shutdown();

  // Unlocks a LUKS volume with the kernel's dm-crypt inside the appliance.
  // key is NUL-terminated (so it cannot contain NUL bytes); libguestfs hands
  // it to cryptsetup through a file in the appliance, never argv.
  Status CryptsetupOpen(const std::string& dev, const char* key, const std::string& mapname, bool readonly);
  Status CryptsetupClose(const std::string& mapname);
  // Runs a shell command line in the appliance (not the guest) through
  // libguestfs' debug interface; returns its output. Device names in it are
  // the kernel's: see KernelDevice.
  Result<std::string> ApplianceShell(const std::string& command);
  // The appliance kernel's name for a libguestfs device name: /dev/sdb3 may
  // be the kernel's /dev/sdc3 (see KernelDeviceName in inspect.h). Listed
  // once per launch.
  Result<std::string> KernelDevice(const std::string& dev);
  // Loads a kernel module in the appliance (modprobe).
  Status Modprobe(const std::string& module);
  // The appliance kernel's message buffer (dmesg): what dm-crypt says when a
  // table is refused.
  Result<std::string> KernelLog();
  // The same for a volume whose LUKS header is a file (header_file, an
  // absolute path inside the filesystem on header_dev, mounted read-only for
  // the moment): ADE's detached OS header. cryptsetup_open has no --header,
  // so this runs the appliance's own cryptsetup through libguestfs' debug
  // interface; the key reaches it through the daemon's environment, never an
  // argv, and is cleared right after. Leaves nothing mounted.
  Status CryptsetupOpenDetached(const std::string& dev, const std::string& header_dev, const std::string& header_file,
                                const char* key, const std::string& mapname, bool readonly);
  // "sha256" of the whole device, computed in the appliance.
  Result<std::string> ChecksumDevice(const std::string& type, const std::string& dev);
  // e2fsck -f -p: the whole ext2/3/4 filesystem checked even when it is
  // marked clean. 0 when it found nothing it could not fix without asking,
  // else e2fsck's message as an error of kind kGuest.
  Status E2fsckForced(const std::string& dev);
  // xfs_repair -n: 0 clean, 1 corruption found.
  Result<int> XfsCheck(const std::string& dev);

 private:
  struct GuestStat {
    uint32_t mode = 0;
    uint64_t size = 0;
    uint64_t rdev = 0;
  };
  explicit Handle(guestfs_h* g) : g_(g) {}
  Error Fail(const std::string& op) const;
  // statns of a guest path, symlinks followed inside the guest (the daemon
  // resolves them in its chroot); nullopt when there is no such file (a
  // dangling link included).
  Result<std::optional<GuestStat>> StatGuest(const std::string& path);

  // A qcow2 overlay backed by path (read, never written), in overlay_dir_,
  // removed with the handle: for the drives libguestfs' own overlay cannot
  // open (StartsWithLuks1 in handle.cc).
  Result<std::string> MakeOverlay(const std::string& path, const std::string& format);

  guestfs_h* g_;
  std::string overlay_dir_;
  int overlays_ = 0;
  std::optional<std::vector<std::string>> kernel_disks_;  // KernelDevice's listing, once read
};

}  // namespace vhdcrypt::guest
