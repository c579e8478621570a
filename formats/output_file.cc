#include "formats/output_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>

namespace vhdcrypt {

// What the signal handler knows of one output. Records are linked into a
// list that only grows (pushed with a compare-and-swap, never freed or
// reused), so the handler can walk it at any moment without a lock and
// without allocating; their strings are set before a record is published.
struct PendingOutput {
  enum State : int {
    kIdle,           // nothing to clean up
    kTemp,           // the temporary exists: unlink it
    kPlacedNew,      // renamed to a name that was free: unlink the final name
    kPlacedSwapped,  // swapped with an existing file: swap back, unlink the temporary
  };
  std::string temp;
  std::string final_path;
  std::atomic<int> state{kIdle};
  PendingOutput* next = nullptr;
};

namespace {

std::atomic<PendingOutput*> g_pending{nullptr};

PendingOutput* Track(const std::string& temp, const std::string& final_path) {
  auto* p = new PendingOutput;
  p->temp = temp;
  p->final_path = final_path;
  p->state.store(PendingOutput::kTemp);
  p->next = g_pending.load();
  while (!g_pending.compare_exchange_weak(p->next, p)) {
  }
  return p;
}

int SwapNames(const std::string& a, const std::string& b) {
  return ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE);
}

void OnSignal(int sig) {
  for (PendingOutput* p = g_pending.load(); p != nullptr; p = p->next) {
    switch (p->state.load()) {
      case PendingOutput::kTemp: ::unlink(p->temp.c_str()); break;
      case PendingOutput::kPlacedNew: ::unlink(p->final_path.c_str()); break;
      case PendingOutput::kPlacedSwapped:
        ::renameat2(AT_FDCWD, p->temp.c_str(), AT_FDCWD, p->final_path.c_str(), RENAME_EXCHANGE);
        ::unlink(p->temp.c_str());
        break;
      default: break;
    }
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Blocks the cleanup signals in this thread for its lifetime: a state change
// and the file operation it records happen together, as far as the handler
// can tell.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t block;
    sigemptyset(&block);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
    ::pthread_sigmask(SIG_BLOCK, &block, &old_);
  }
  ~SignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

std::pair<std::string, std::string> SplitDir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

Error ErrnoError(const std::string& path, const std::string& what) {
  return IoError(path + ": " + what + ": " + std::strerror(errno));
}

Status SyncDirectory(const std::string& dir) {
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

// ".NAME" + kTempTag + ["PID-"] + six characters from mkostemp.
constexpr char kTempTag[] = ".vhdcrypt-";
constexpr size_t kTempRandomChars = 6;

bool AllDigits(std::string_view s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos; }

// The part between the tag and the random characters: "" or "PID-".
std::optional<std::string_view> TempMiddle(std::string_view base) {
  const size_t tag = base.rfind(kTempTag);
  if (base.size() < 2 || base[0] != '.' || tag == std::string_view::npos || tag <= 1) return std::nullopt;
  const size_t begin = tag + sizeof kTempTag - 1;
  if (base.size() < begin + kTempRandomChars) return std::nullopt;
  std::string_view middle = base.substr(begin, base.size() - begin - kTempRandomChars);
  if (middle.empty()) return middle;
  if (middle.back() != '-' || !AllDigits(middle.substr(0, middle.size() - 1))) return std::nullopt;
  return middle;
}

}  // namespace

bool IsOutputTempName(const std::string& path) { return TempMiddle(BaseName(path)).has_value(); }

std::optional<pid_t> OutputTempOwner(const std::string& path) {
  const std::string base = BaseName(path);
  const auto middle = TempMiddle(base);
  if (!middle || middle->empty() || middle->size() > 10) return std::nullopt;
  const long pid = std::stol(std::string(middle->substr(0, middle->size() - 1)));
  if (pid <= 0 || pid > INT32_MAX) return std::nullopt;
  return static_cast<pid_t>(pid);
}

Result<std::vector<std::string>> RemoveDeadRunTemporaries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError(dir, "cannot list the directory");
  std::vector<std::string> dead;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const auto pid = OutputTempOwner(name);
    // ESRCH: no such process. EPERM means one exists (another user's).
    if (pid && *pid != ::getpid() && ::kill(*pid, 0) != 0 && errno == ESRCH) dead.push_back(name);
  }
  ::closedir(d);
  std::vector<std::string> removed;
  for (const auto& name : dead) {
    if (::unlink((dir + "/" + name).c_str()) == 0) removed.push_back(name);
  }
  return removed;
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
  std::string temp =
      dir + "/." + base + kTempTag + std::to_string(::getpid()) + "-" + std::string(kTempRandomChars, 'X');
  std::vector<char> buf(temp.begin(), temp.end());
  buf.push_back('\0');
  int fd = -1;
  int err = 0;
  PendingOutput* pending = nullptr;
  {
    // A signal can never arrive after the temporary exists but before the
    // handler knows its name.
    SignalsBlocked blocked;
    fd = ::mkostemp(buf.data(), O_CLOEXEC);
    err = errno;
    if (fd >= 0) pending = Track(buf.data(), path);
  }
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
  return std::unique_ptr<OutputFile>(new OutputFile(path, temp, std::move(file), pending, overwrite));
}

OutputFile::~OutputFile() {
  if (committed_) return;
  SignalsBlocked blocked;
  ::unlink(temp_path_.c_str());
  pending_->state.store(PendingOutput::kIdle);
}

Status OutputFile::Place() {
  SignalsBlocked blocked;
  struct stat st;
  if (overwrite_ && ::lstat(path_.c_str(), &st) == 0) {
    // The old file goes to the temporary name, where Undo finds it.
    if (SwapNames(temp_path_, path_) == 0) {
      exchanged_ = true;
      pending_->state.store(PendingOutput::kPlacedSwapped);
      return {};
    }
    // Filesystems without RENAME_EXCHANGE: a plain replace, which cannot be undone.
    if (errno != EINVAL || ::rename(temp_path_.c_str(), path_.c_str()) != 0) {
      return ErrnoError(path_, "rename from " + temp_path_ + " failed");
    }
    committed_ = true;
    pending_->state.store(PendingOutput::kIdle);
    return {};
  }
  if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return UsageError(path_ + ": appeared while vhdcrypt was writing it; not replaced");
    // Filesystems without RENAME_NOREPLACE: link() refuses an existing name too.
    if (errno != EINVAL || ::link(temp_path_.c_str(), path_.c_str()) != 0) {
      if (errno == EEXIST) return UsageError(path_ + ": appeared while vhdcrypt was writing it; not replaced");
      return ErrnoError(path_, "rename from " + temp_path_ + " failed");
    }
    ::unlink(temp_path_.c_str());
  }
  pending_->state.store(PendingOutput::kPlacedNew);
  return {};
}

void OutputFile::Undo() {
  if (committed_) return;  // replaced without a way back
  SignalsBlocked blocked;
  if (exchanged_) {
    SwapNames(temp_path_, path_);  // the old file back under its name; ours under the temporary
    exchanged_ = false;
    pending_->state.store(PendingOutput::kTemp);
    return;
  }
  // Our file back under the temporary name (the destructor removes it): the final name is free again.
  ::rename(path_.c_str(), temp_path_.c_str());
  pending_->state.store(PendingOutput::kTemp);
}

void OutputFile::Finish() {
  SignalsBlocked blocked;
  if (exchanged_) ::unlink(temp_path_.c_str());  // the replaced file
  committed_ = true;
  pending_->state.store(PendingOutput::kIdle);
}

Status OutputFile::Commit() {
  OutputFile* self = this;
  return CommitAll(std::span(&self, 1));
}

Status CommitAll(std::span<OutputFile* const> outputs) {
  for (OutputFile* out : outputs) RETURN_IF_ERROR(out->file_->Sync());
  for (size_t placed = 0; placed < outputs.size(); ++placed) {
    Status s = outputs[placed]->Place();
    if (s.ok()) continue;
    for (size_t i = placed; i-- > 0;) outputs[i]->Undo();
    return s;
  }
  std::set<std::string> dirs;
  for (OutputFile* out : outputs) {
    out->Finish();
    dirs.insert(SplitDir(out->path_).first);
  }
  for (const auto& dir : dirs) RETURN_IF_ERROR(SyncDirectory(dir));
  return {};
}

}  // namespace vhdcrypt
