#include "formats/output_file.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

namespace vhdcrypt {
namespace {

// The signal handler can only touch async-signal-safe state, so pending
// temporary names live in a fixed table of C strings. This is the one piece
// of process-wide state in the tool, and it exists only for cleanup.
constexpr int kSlots = 16;
constexpr size_t kMaxPath = 4096;
char g_pending[kSlots][kMaxPath];
std::atomic<bool> g_used[kSlots];

int ClaimSlot(const std::string& path) {
  if (path.size() >= kMaxPath) return -1;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (g_used[i].compare_exchange_strong(expected, true)) {
      std::memcpy(g_pending[i], path.c_str(), path.size() + 1);
      return i;
    }
  }
  return -1;
}

void ReleaseSlot(int slot) {
  if (slot >= 0) g_used[slot].store(false);
}

void OnSignal(int sig) {
  for (int i = 0; i < kSlots; ++i) {
    if (g_used[i].load()) ::unlink(g_pending[i]);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

std::pair<std::string, std::string> SplitDir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

Error ErrnoError(const std::string& path, const std::string& what) {
  return IoError(path + ": " + what + ": " + std::strerror(errno));
}

// ".NAME" + kTempTag + six characters from mkostemp.
constexpr char kTempTag[] = ".vhdcrypt-";
constexpr size_t kTempRandomChars = 6;

}  // namespace

bool IsOutputTempName(const std::string& path) {
  const std::string base = BaseName(path);
  const size_t tag = base.rfind(kTempTag);
  return base.size() > 1 && base[0] == '.' && tag != std::string::npos && tag > 1 &&
         base.size() - tag == sizeof kTempTag - 1 + kTempRandomChars;
}

void InstallCleanupSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

Result<std::unique_ptr<OutputFile>> OutputFile::Create(const std::string& path, bool overwrite,
                                                       const std::string& input_path, OutputMode mode) {
  auto [dir, base] = SplitDir(path);
  if (base.empty() || base == "." || base == "..") return UsageError(path + ": not a file name");
  struct stat out_st;
  if (::stat(path.c_str(), &out_st) == 0) {
    struct stat in_st;
    if (!input_path.empty() && ::stat(input_path.c_str(), &in_st) == 0 && in_st.st_dev == out_st.st_dev &&
        in_st.st_ino == out_st.st_ino) {
      return UsageError(path + ": is the input file; the input is never modified");
    }
    if (!overwrite) return UsageError(path + ": already exists (use --force to replace it)");
    if (S_ISDIR(out_st.st_mode)) return UsageError(path + ": is a directory");
  } else if (errno != ENOENT) {
    return ErrnoError(path, "cannot stat");
  }
  std::string temp = dir + "/." + base + kTempTag + std::string(kTempRandomChars, 'X');
  std::vector<char> buf(temp.begin(), temp.end());
  buf.push_back('\0');
  // Block the cleanup signals until the temporary is registered, so a signal
  // can never arrive after it exists but before the handler knows its name.
  sigset_t block, old;
  sigemptyset(&block);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  int err = errno;
  int slot = fd >= 0 ? ClaimSlot(buf.data()) : -1;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  if (fd < 0) return ErrnoError(dir, "cannot create a temporary file");
  temp.assign(buf.data());
  // mkostemp made it 0600, right for secrets. Images are ordinary files:
  // honour the umask as open(..., 0666) would.
  if (mode == OutputMode::kPublic) {
    mode_t mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd, 0666 & ~mask);
  }
  auto file = std::make_unique<PosixFile>(fd, path);
  file->EnableWriteBehind();
  return std::unique_ptr<OutputFile>(new OutputFile(path, temp, std::move(file), slot, overwrite));
}

OutputFile::~OutputFile() {
  if (!committed_) Discard();
}

void OutputFile::Discard() {
  ::unlink(temp_path_.c_str());
  ReleaseSlot(slot_);
  slot_ = -1;
}

Status OutputFile::Commit() {
  RETURN_IF_ERROR(file_->Sync());
  if (overwrite_) {
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
      return ErrnoError(path_, "rename from " + temp_path_ + " failed");
    }
  } else if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return UsageError(path_ + ": appeared while vhdcrypt was writing it; not replaced");
    // Filesystems without RENAME_NOREPLACE: link() refuses an existing name too.
    if (errno != EINVAL || ::link(temp_path_.c_str(), path_.c_str()) != 0) {
      if (errno == EEXIST) return UsageError(path_ + ": appeared while vhdcrypt was writing it; not replaced");
      return ErrnoError(path_, "rename from " + temp_path_ + " failed");
    }
    ::unlink(temp_path_.c_str());
  }
  committed_ = true;
  ReleaseSlot(slot_);
  slot_ = -1;
  auto dir = SplitDir(path_).first;
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoError(dir, "cannot open directory to sync it");
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) {
    errno = err;
    return ErrnoError(dir, "directory fsync failed");
  }
  return {};
}

}  // namespace vhdcrypt
