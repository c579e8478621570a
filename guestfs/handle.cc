#include "guestfs/handle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <guestfs.h>

#include <cstdlib>

#include "guestfs/inspect.h"

namespace vhdcrypt::guest {
namespace {

// Takes ownership of a NULL-terminated string list from libguestfs.
std::vector<std::string> TakeList(char** list) {
  std::vector<std::string> out;
  if (list == nullptr) return out;
  for (char** p = list; *p != nullptr; ++p) {
    out.emplace_back(*p);
    std::free(*p);
  }
  std::free(list);
  return out;
}

std::string TakeString(char* s) {
  std::string out = s ? s : "";
  std::free(s);
  return out;
}

// Whether a file starts with a LUKS1 header ("LUKS\xba\xbe", version 1).
// qemu probes such a file as its own "luks" format, and libguestfs' read-only
// overlay for it leaves the backing file's format to qemu's probe (its
// -drive names backing options, which drop the format the overlay records):
// qemu then asks for a key ("Parameter 'key-secret' is required for cipher").
// LUKS2 is not probed. Unreadable files are left to libguestfs.
bool StartsWithLuks1(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  unsigned char magic[8] = {};
  const bool read = ::pread(fd, magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic);
  ::close(fd);
  return read && std::memcmp(magic, "LUKS\xba\xbe\x00\x01", sizeof magic) == 0;
}

std::vector<std::pair<std::string, std::string>> Pairs(const std::vector<std::string>& flat) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i + 1 < flat.size(); i += 2) out.emplace_back(flat[i], flat[i + 1]);
  return out;
}

}  // namespace

Error Handle::Fail(const std::string& op) const {
  const char* msg = guestfs_last_error(g_);
  return Error(ErrorKind::kGuest, "libguestfs: " + op + ": " + (msg ? msg : "unknown error"));
}

Result<std::unique_ptr<Handle>> Handle::Launch(const std::vector<Drive>& drives, bool sensitive) {
  guestfs_h* g = guestfs_create_flags(GUESTFS_CREATE_NO_ENVIRONMENT);
  if (g == nullptr) return Error(ErrorKind::kGuest, "libguestfs: cannot create a handle");
  std::unique_ptr<Handle> h(new Handle(g));
  // Errors come back as values; libguestfs must not print them itself.
  guestfs_set_error_handler(g, nullptr, nullptr);
  // LIBGUESTFS_BACKEND and friends still apply; parsing them after the error
  // handler is set turns a bad setting into a value, not a print.
  if (guestfs_parse_environment(g) == -1) return h->Fail("parse_environment");
  if (guestfs_set_network(g, 0) == -1) return h->Fail("set_network");
  if (sensitive && guestfs_set_trace(g, 0) == -1) return h->Fail("set_trace");
  for (const Drive& d : drives) {
    if (d.readonly && StartsWithLuks1(d.path)) {
      // vhdcrypt's own qcow2 overlay, its backing format recorded in it and
      // no backing options on qemu's command line: writes go to the overlay,
      // the input is only read.
      ASSIGN_OR_RETURN(const std::string overlay, h->MakeOverlay(d.path, d.format));
      if (guestfs_add_drive_opts(g, overlay.c_str(), GUESTFS_ADD_DRIVE_OPTS_FORMAT, "qcow2",
                                 GUESTFS_ADD_DRIVE_OPTS_READONLY, 0, -1) == -1) {
        return h->Fail("add_drive " + d.path);
      }
      continue;
    }
    if (guestfs_add_drive_opts(g, d.path.c_str(), GUESTFS_ADD_DRIVE_OPTS_FORMAT, d.format.c_str(),
                               GUESTFS_ADD_DRIVE_OPTS_READONLY, d.readonly ? 1 : 0, -1) == -1) {
      return h->Fail("add_drive " + d.path);
    }
  }
  if (guestfs_launch(g) == -1) return h->Fail("launch");
  return h;
}

Handle::~Handle() {
  if (g_ != nullptr) {
    guestfs_shutdown(g_);
    guestfs_close(g_);
  }
  if (!overlay_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(overlay_dir_, ignored);
  }
}

Result<std::string> Handle::MakeOverlay(const std::string& path, const std::string& format) {
  if (overlay_dir_.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/vhdcrypt-overlay.XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) {
      return Error(ErrorKind::kIo,
                   "cannot make a directory for a read-only overlay of " + path + ": " + std::strerror(errno));
    }
    overlay_dir_ = dir;
  }
  const std::string overlay = overlay_dir_ + "/" + std::to_string(overlays_++) + ".qcow2";
  std::error_code ec;
  const std::string backing = std::filesystem::absolute(path, ec).string();
  if (ec) return Error(ErrorKind::kIo, path + ": " + ec.message());
  if (guestfs_disk_create(g_, overlay.c_str(), "qcow2", -1, GUESTFS_DISK_CREATE_BACKINGFILE, backing.c_str(),
                          GUESTFS_DISK_CREATE_BACKINGFORMAT, format.c_str(), -1) == -1) {
    return Fail("disk_create (read-only overlay of " + path + ")");
  }
  return overlay;
}

#define LIST_OR_FAIL(call, op)          \
  do {                                  \
    char** r_ = (call);                 \
    if (r_ == nullptr) return Fail(op); \
    return TakeList(r_);                \
  } while (0)

#define STRING_OR_FAIL(call, op)        \
  do {                                  \
    char* r_ = (call);                  \
    if (r_ == nullptr) return Fail(op); \
    return TakeString(r_);              \
  } while (0)

#define BOOL_OR_FAIL(call, op)     \
  do {                             \
    int r_ = (call);               \
    if (r_ == -1) return Fail(op); \
    return r_ != 0;                \
  } while (0)

Result<std::vector<std::string>> Handle::ListMdDevices() {
  LIST_OR_FAIL(guestfs_list_md_devices(g_), "list_md_devices");
}

Result<std::map<std::string, std::string>> Handle::Blkid(const std::string& d) {
  char** r = guestfs_blkid(g_, d.c_str());
  if (r == nullptr) return Fail("blkid " + d);
  // libguestfs runs `blkid -o export`, which puts a backslash before shell
  // metacharacters (a label "BEK VOLUME" comes as "BEK\ VOLUME"): undone here.
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : Pairs(TakeList(r))) {
    std::string value;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '\\' && i + 1 < v.size()) ++i;
      value += v[i];
    }
    out[k] = value;
  }
  return out;
}

Result<std::string> Handle::VfsType(const std::string& d) {
  STRING_OR_FAIL(guestfs_vfs_type(g_, d.c_str()), "vfs_type " + d);
}

Result<uint64_t> Handle::DeviceSize(const std::string& d) {
  int64_t v = guestfs_blockdev_getsize64(g_, d.c_str());
  if (v == -1) return Fail("blockdev_getsize64 " + d);
  return static_cast<uint64_t>(v);
}

Result<std::vector<std::string>> Handle::Vgs() { LIST_OR_FAIL(guestfs_vgs(g_), "vgs"); }
Result<std::vector<std::string>> Handle::Lvs() { LIST_OR_FAIL(guestfs_lvs(g_), "lvs"); }
Result<std::vector<std::string>> Handle::VgPvUuids(const std::string& vg) {
  LIST_OR_FAIL(guestfs_vgpvuuids(g_, vg.c_str()), "vgpvuuids " + vg);
}

Result<std::string> Handle::PvUuid(const std::string& pv) {
  char* uuid = guestfs_pvuuid(g_, pv.c_str());
  if (uuid == nullptr) return Fail("pvuuid " + pv);
  std::string out(uuid);
  free(uuid);
  return out;
}

Status Handle::ActivateVolumeGroups(bool activate) {
  if (activate && guestfs_lvm_scan(g_, 1) == -1) return Fail("lvm_scan");
  if (!activate && guestfs_vg_activate_all(g_, 0) == -1) return Fail("vg_activate_all");
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> Handle::PvUuids() {
  char** list = guestfs_pvs(g_);
  if (list == nullptr) return Fail("pvs");
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& pv : TakeList(list)) {
    ASSIGN_OR_RETURN(std::string uuid, PvUuid(pv));
    out.emplace_back(pv, std::move(uuid));
  }
  return out;
}

Status Handle::MountRo(const std::string& dev, const std::string& mp) {
  if (guestfs_mount_ro(g_, dev.c_str(), mp.c_str()) == -1) return Fail("mount_ro " + dev + " on " + mp);
  return {};
}

Status Handle::UmountAll() {
  if (guestfs_umount_all(g_) == -1) return Fail("umount_all");
  return {};
}

Result<bool> Handle::Exists(const std::string& p) { BOOL_OR_FAIL(guestfs_exists(g_, p.c_str()), "exists " + p); }
Result<bool> Handle::IsDir(const std::string& p) { BOOL_OR_FAIL(guestfs_is_dir(g_, p.c_str()), "is_dir " + p); }
Result<bool> Handle::IsRegularFile(const std::string& p) {
  BOOL_OR_FAIL(guestfs_is_file(g_, p.c_str()), "is_file " + p);
}

Result<std::optional<std::string>> Handle::SymlinkTarget(const std::string& p) {
  const int link = guestfs_is_symlink(g_, p.c_str());
  if (link == -1) return Fail("is_symlink " + p);
  if (link == 0) return std::optional<std::string>();
  char* target = guestfs_readlink(g_, p.c_str());
  if (target == nullptr) return Fail("readlink " + p);
  std::string out(target);
  free(target);
  return std::optional(out);
}
Result<std::vector<std::string>> Handle::Ls(const std::string& d) {
  LIST_OR_FAIL(guestfs_ls(g_, d.c_str()), "ls " + d);
}
Result<std::vector<std::string>> Handle::Glob(const std::string& p) {
  LIST_OR_FAIL(guestfs_glob_expand(g_, p.c_str()), "glob_expand " + p);
}

Result<std::vector<std::string>> Handle::ListDevices() { LIST_OR_FAIL(guestfs_list_devices(g_), "list_devices"); }

Result<std::vector<std::string>> Handle::ListPartitions() {
  LIST_OR_FAIL(guestfs_list_partitions(g_), "list_partitions");
}

Result<std::vector<std::string>> Handle::ReadLines(const std::string& p) {
  ASSIGN_OR_RETURN(auto lines, ReadGuestLines(p, kMaxConfigFileBytes));
  if (!lines) return Error(ErrorKind::kGuest, "guest file " + p + " does not exist");
  return std::move(*lines);
}

Result<std::vector<std::string>> Handle::ReadLinesIfExists(const std::string& p) {
  ASSIGN_OR_RETURN(auto lines, ReadGuestLines(p, kMaxConfigFileBytes));
  return lines ? std::move(*lines) : std::vector<std::string>{};
}

namespace {
constexpr uint64_t kPiece = 1 << 20;  // well under GUESTFS_MESSAGE_MAX
}  // namespace

namespace {
// Reads size bytes from offset in pieces with a guestfs_pread-like call
// (returns a malloc'd buffer and its length, or nullptr).
template <typename Call, typename OnFail>
Result<std::vector<uint8_t>> ReadInPieces(const std::string& what, uint64_t size, uint64_t offset, Call call,
                                          OnFail fail) {
  std::vector<uint8_t> out;
  out.reserve(size);
  while (out.size() < size) {
    const int want = static_cast<int>(std::min<uint64_t>(kPiece, size - out.size()));
    size_t got = 0;
    char* piece = call(want, static_cast<int64_t>(offset + out.size()), &got);
    if (piece == nullptr) return fail();
    out.insert(out.end(), piece, piece + got);
    free(piece);
    if (got == 0) return Error(ErrorKind::kGuest, what + ": short read at byte " + std::to_string(offset + out.size()));
  }
  return out;
}
}  // namespace

Result<std::vector<uint8_t>> Handle::PreadDevice(const std::string& dev, uint64_t size, uint64_t offset) {
  return ReadInPieces(
      dev, size, offset,
      [&](int want, int64_t at, size_t* got) { return guestfs_pread_device(g_, dev.c_str(), want, at, got); },
      [&] { return Fail("pread_device " + dev); });
}

namespace {
// Writes data in pieces with a guestfs_pwrite-like call (returns bytes written, or -1).
template <typename Call>
bool WriteInPieces(std::span<const uint8_t> data, uint64_t offset, Call call) {
  for (uint64_t done = 0; done < data.size();) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, data.size() - done));
    const int w = call(reinterpret_cast<const char*>(data.data() + done), n, static_cast<int64_t>(offset + done));
    if (w <= 0) return false;
    done += static_cast<uint64_t>(w);
  }
  return true;
}
}  // namespace

Status Handle::PwriteDevice(const std::string& dev, std::span<const uint8_t> data, uint64_t offset) {
  if (!WriteInPieces(data, offset, [&](const char* p, size_t n, int64_t at) {
        return guestfs_pwrite_device(g_, dev.c_str(), p, n, at);
      })) {
    return Fail("pwrite_device " + dev);
  }
  return {};
}

Status Handle::PwriteFile(const std::string& path, std::span<const uint8_t> data, uint64_t offset) {
  if (!WriteInPieces(data, offset,
                     [&](const char* p, size_t n, int64_t at) { return guestfs_pwrite(g_, path.c_str(), p, n, at); })) {
    return Fail("pwrite " + path);
  }
  return {};
}

Result<std::vector<uint8_t>> Handle::ReadBytes(const std::string& p, uint64_t max_bytes) {
  ASSIGN_OR_RETURN(uint64_t size, FileSize(p));
  if (size > max_bytes) {
    return Error(ErrorKind::kInvalidInput, p + " is " + std::to_string(size) + " bytes, more than the " +
                                               std::to_string(max_bytes) + " expected");
  }
  return ReadInPieces(
      p, size, 0, [&](int want, int64_t at, size_t* got) { return guestfs_pread(g_, p.c_str(), want, at, got); },
      [&] { return Fail("pread " + p); });
}

Result<std::optional<Handle::GuestStat>> Handle::StatGuest(const std::string& p) {
  struct guestfs_statns* st = guestfs_statns(g_, p.c_str());
  if (st == nullptr) {
    if (guestfs_last_errno(g_) == ENOENT) return std::optional<GuestStat>();
    return Fail("statns " + p);
  }
  const GuestStat s{static_cast<uint32_t>(st->st_mode), static_cast<uint64_t>(std::max<int64_t>(st->st_size, 0)),
                    static_cast<uint64_t>(st->st_rdev)};
  guestfs_free_statns(st);
  return std::optional(s);
}

Result<std::optional<std::vector<std::string>>> Handle::ReadGuestLines(const std::string& p, uint64_t max_bytes) {
  ASSIGN_OR_RETURN(const auto st, StatGuest(p));
  if (!st) return std::optional<std::vector<std::string>>();
  const auto mode = static_cast<mode_t>(st->mode);
  const uint64_t size = st->size;
  const auto rdev = static_cast<dev_t>(st->rdev);
  std::vector<std::string> lines;
  if (S_ISCHR(mode) && major(rdev) == 1 && minor(rdev) == 3) return std::optional(lines);  // /dev/null: empty
  if (!S_ISREG(mode)) {
    const char* what = S_ISDIR(mode)    ? "a directory"
                       : S_ISCHR(mode)  ? "a character device"
                       : S_ISBLK(mode)  ? "a block device"
                       : S_ISFIFO(mode) ? "a FIFO"
                       : S_ISSOCK(mode) ? "a socket"
                                        : "not a file";
    return Error(ErrorKind::kInvalidInput, "guest file " + p + " is " + what + ", not a regular file");
  }
  if (size > max_bytes) {
    return Error(ErrorKind::kInvalidInput, "guest file " + p + " is " + std::to_string(size) +
                                               " bytes, more than the limit of " + std::to_string(max_bytes) +
                                               " for a file vhdcrypt reads");
  }
  ASSIGN_OR_RETURN(
      const auto bytes,
      ReadInPieces(
          p, size, 0, [&](int want, int64_t at, size_t* got) { return guestfs_pread(g_, p.c_str(), want, at, got); },
          [&] { return Fail("pread " + p); }));
  // As read_lines: split at "\n", a trailing "\r" dropped, no empty last line.
  size_t start = 0;
  while (start < bytes.size()) {
    size_t end = start;
    while (end < bytes.size() && bytes[end] != '\n') ++end;
    size_t stop = end;
    if (stop > start && bytes[stop - 1] == '\r') --stop;
    lines.emplace_back(reinterpret_cast<const char*>(bytes.data()) + start, stop - start);
    start = end + 1;
  }
  return std::optional(std::move(lines));
}

Result<StatVfs> Handle::Statvfs(const std::string& p) {
  struct guestfs_statvfs* s = guestfs_statvfs(g_, p.c_str());
  if (s == nullptr) return Fail("statvfs " + p);
  StatVfs out;
  out.total_bytes = static_cast<uint64_t>(s->blocks) * static_cast<uint64_t>(s->frsize);
  out.free_bytes = static_cast<uint64_t>(s->bavail) * static_cast<uint64_t>(s->frsize);
  guestfs_free_statvfs(s);
  return out;
}

Status Handle::Mount(const std::string& dev, const std::string& mp) {
  if (guestfs_mount(g_, dev.c_str(), mp.c_str()) == -1) return Fail("mount " + dev + " on " + mp);
  return {};
}

Status Handle::Write(const std::string& path, const std::string& content) {
  if (guestfs_write(g_, path.c_str(), content.data(), content.size()) == -1) return Fail("write " + path);
  return {};
}

Status Handle::WriteBytes(const std::string& path, std::span<const uint8_t> content) {
  // One protocol message carries at most a few MiB: larger contents go in
  // pieces (write, then write_append).
  const std::span<const uint8_t> first = content.first(std::min<size_t>(kPiece, content.size()));
  if (guestfs_write(g_, path.c_str(), reinterpret_cast<const char*>(first.data()), first.size()) == -1) {
    return Fail("write " + path);
  }
  return AppendBytes(path, content.subspan(first.size()));
}

Status Handle::AppendBytes(const std::string& path, std::span<const uint8_t> content) {
  for (size_t done = 0; done < content.size();) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, content.size() - done));
    if (guestfs_write_append(g_, path.c_str(), reinterpret_cast<const char*>(content.data() + done), n) == -1) {
      return Fail("write_append " + path);
    }
    done += n;
  }
  return {};
}

Result<bool> Handle::IsNonEmptyFile(const std::string& p) {
  auto st = StatGuest(p);
  if (!st.ok()) {
    if (guestfs_last_errno(g_) == ELOOP) return false;  // a symlink loop is no file either
    return st.error();
  }
  return *st && S_ISREG(static_cast<mode_t>((*st)->mode)) && (*st)->size > 0;
}

Result<std::vector<uint8_t>> Handle::ReadHead(const std::string& p, size_t max_bytes) {
  ASSIGN_OR_RETURN(const bool file, IsNonEmptyFile(p));
  if (!file) return std::vector<uint8_t>();
  size_t got = 0;
  char* bytes = guestfs_pread(g_, p.c_str(), static_cast<int>(max_bytes), 0, &got);
  if (bytes == nullptr) return Fail("pread " + p);
  std::vector<uint8_t> out(bytes, bytes + got);
  free(bytes);
  return out;
}

Result<uint64_t> Handle::FileSize(const std::string& path) {
  const int64_t size = guestfs_filesize(g_, path.c_str());
  if (size < 0) return Fail("filesize " + path);
  return static_cast<uint64_t>(size);
}

Status Handle::Mkdir(const std::string& path) {
  if (guestfs_mkdir_p(g_, path.c_str()) == -1) return Fail("mkdir_p " + path);
  return {};
}

Status Handle::Chmod(int mode, const std::string& path) {
  if (guestfs_chmod(g_, mode, path.c_str()) == -1) return Fail("chmod " + path);
  return {};
}

Status Handle::Rename(const std::string& from, const std::string& to) {
  if (guestfs_rename(g_, from.c_str(), to.c_str()) == -1) return Fail("rename " + from);
  return {};
}

Status Handle::CopyTree(const std::string& from, const std::string& to) {
  if (guestfs_cp_a(g_, from.c_str(), to.c_str()) == -1) return Fail("cp_a " + from + " " + to);
  return {};
}

Status Handle::RemoveTree(const std::string& path) {
  if (guestfs_rm_rf(g_, path.c_str()) == -1) return Fail("rm_rf " + path);
  return {};
}

Status Handle::Rmdir(const std::string& path) {
  if (guestfs_rmdir(g_, path.c_str()) == -1) return Fail("rmdir " + path);
  return {};
}

Status Handle::Umount(const std::string& mountpoint) {
  if (guestfs_umount(g_, mountpoint.c_str()) == -1) return Fail("umount " + mountpoint);
  return {};
}

Status Handle::Mkfs(const std::string& fstype, const std::string& dev, const std::string& label) {
  if (guestfs_mkfs_opts(g_, fstype.c_str(), dev.c_str(), GUESTFS_MKFS_OPTS_LABEL, label.c_str(), -1) == -1) {
    return Fail("mkfs " + fstype + " " + dev);
  }
  return {};
}

Result<std::string> Handle::Command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char* out = guestfs_command(g_, args.data());
  if (out == nullptr) return Fail("command " + (argv.empty() ? std::string() : argv[0]));
  std::string text(out);
  free(out);
  return text;
}

Status Handle::Shutdown() {
  if (guestfs_shutdown(g_) == -1) return Fail("shutdown");
  return {};
}

Status Handle::CryptsetupOpen(const std::string& dev, const char* key, const std::string& mapname, bool readonly) {
  if (guestfs_cryptsetup_open(g_, dev.c_str(), key, mapname.c_str(), GUESTFS_CRYPTSETUP_OPEN_READONLY, readonly ? 1 : 0,
                              -1) == -1) {
    return Fail("cryptsetup_open " + dev);
  }
  return {};
}

namespace {

// 'text' for sh, with embedded single quotes closed and escaped.
std::string ShellQuote(const std::string& text) {
  std::string q = "'";
  for (char c : text) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

}  // namespace

Status Handle::CryptsetupOpenDetached(const std::string& dev, const std::string& header_dev,
                                      const std::string& header_file, const char* key, const std::string& mapname,
                                      bool readonly) {
  constexpr char kKeyVar[] = "VHDCRYPT_KEY";
  // The command line below bypasses libguestfs' name translation.
  ASSIGN_OR_RETURN(const std::string kernel_dev, KernelDevice(dev));
  if (guestfs_mount_ro(g_, header_dev.c_str(), "/") == -1) return Fail("mount_ro " + header_dev);
  auto debug = [&](const char* sub, std::vector<std::string> args) -> Status {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    char* out = guestfs_debug(g_, sub, argv.data());
    if (out == nullptr) return Fail(std::string("debug ") + sub);
    free(out);
    return {};
  };
  Status st = debug("setenv", {kKeyVar, key});
  if (st.ok()) {
    // printf is a builtin of the appliance's sh: the key is in no argv. The
    // shell's `|| echo` turns a failure into output, since debug sh does not
    // report the exit status.
    const std::string cmd = std::string("printf %s \"$") + kKeyVar + "\" | cryptsetup open --type luks2 " +
                            (readonly ? "--readonly " : "") + "--header " + ShellQuote("/sysroot" + header_file) +
                            " --key-file=- " + ShellQuote(kernel_dev) + " " + ShellQuote(mapname) +
                            " 2>&1 || echo vhdcrypt-open-failed";
    std::vector<char*> argv = {const_cast<char*>(cmd.c_str()), nullptr};
    char* out = guestfs_debug(g_, "sh", argv.data());
    if (out == nullptr) {
      st = Fail("cryptsetup open --header");
    } else {
      const std::string text(out);
      free(out);
      if (text.find("vhdcrypt-open-failed") != std::string::npos) {
        st = Error(ErrorKind::kGuest, "cryptsetup open --header " + header_file + " " + dev +
                                          (kernel_dev != dev ? " (the kernel's " + kernel_dev + ")" : "") + ": " +
                                          text.substr(0, text.find("vhdcrypt-open-failed")));
      }
    }
  }
  Status cleared = debug("setenv", {kKeyVar, ""});
  if (guestfs_umount_all(g_) == -1 && st.ok()) st = Fail("umount_all");
  if (!st.ok()) return st;
  return cleared;
}

Status Handle::CryptsetupClose(const std::string& mapname) {
  if (guestfs_cryptsetup_close(g_, ("/dev/mapper/" + mapname).c_str()) == -1)
    return Fail("cryptsetup_close " + mapname);
  return {};
}

Result<std::string> Handle::ApplianceShell(const std::string& command) {
  std::string cmd = command;
  std::vector<char*> argv = {cmd.data(), nullptr};
  STRING_OR_FAIL(guestfs_debug(g_, "sh", argv.data()), "debug sh");
}

Result<std::string> Handle::KernelDevice(const std::string& dev) {
  if (!kernel_disks_) {
    ASSIGN_OR_RETURN(std::string listing, ApplianceShell(kKernelDiskListing));
    ASSIGN_OR_RETURN(std::vector<std::string> disks, ParseKernelDisks(listing));
    kernel_disks_ = std::move(disks);
  }
  return KernelDeviceName(dev, *kernel_disks_);
}

Status Handle::Modprobe(const std::string& module) {
  if (guestfs_modprobe(g_, module.c_str()) == -1) return Fail("modprobe " + module);
  return {};
}

Result<std::string> Handle::KernelLog() { STRING_OR_FAIL(guestfs_dmesg(g_), "dmesg"); }

Result<std::string> Handle::ChecksumDevice(const std::string& type, const std::string& dev) {
  STRING_OR_FAIL(guestfs_checksum_device(g_, type.c_str(), dev.c_str()), "checksum_device " + dev);
}

Status Handle::E2fsckForced(const std::string& dev) {
  if (guestfs_e2fsck(g_, dev.c_str(), GUESTFS_E2FSCK_CORRECT, 1, -1) == -1) return Fail("e2fsck -f -p " + dev);
  return {};
}

Result<int> Handle::XfsCheck(const std::string& dev) {
  const int r = guestfs_xfs_repair(g_, dev.c_str(), GUESTFS_XFS_REPAIR_NOMODIFY, 1, -1);
  if (r == -1) return Fail("xfs_repair -n " + dev);
  return r;
}

}  // namespace vhdcrypt::guest
