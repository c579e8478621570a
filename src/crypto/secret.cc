#include "src/crypto/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <new>
#include <utility>

namespace vhdcrypt {
namespace {

size_t PageRound(size_t n) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

// Closes a descriptor on every path out of ReadKeyFile.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

SecretBytes::SecretBytes(size_t size) {
  if (size == 0) return;
  const size_t mapped = PageRound(size);
  // An anonymous mapping of its own rather than heap memory: the wipe covers
  // whole pages no allocator reuses behind our back, and the advice and lock
  // below apply to these pages only.
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  ::madvise(p, mapped, MADV_DONTDUMP);
  ::mlock(p, mapped);  // best effort: RLIMIT_MEMLOCK is often 64 KiB to 8 MiB
  data_ = static_cast<uint8_t*>(p);
  size_ = size;
  mapped_ = mapped;
}

SecretBytes::~SecretBytes() { Release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

void SecretBytes::Release() {
  if (data_ == nullptr) return;
  OPENSSL_cleanse(data_, mapped_);
  ::munlock(data_, mapped_);
  ::munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

bool SecretBytes::Equals(std::span<const uint8_t> other) const {
  // The length is not secret; the contents are compared in constant time.
  if (other.size() != size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_, other.data(), size_) == 0;
}

void SecretBytes::Truncate(size_t n) {
  if (n >= size_) return;
  OPENSSL_cleanse(data_ + n, size_ - n);
  size_ = n;
}

void HardenProcess() {
  const struct rlimit no_core = {0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

Result<SecretBytes> ReadKeyFile(const std::string& path) {
  // O_NONBLOCK so that a FIFO is refused below instead of blocking open()
  // until a writer appears; it has no effect on regular files.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT) return UsageError(path + ": does not exist");
    return UsageError(path + ": cannot open: " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return IoError(path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return UsageError(path + ": is not a regular file");
  if (st.st_size == 0) return UsageError(path + ": is empty");
  if (static_cast<uint64_t>(st.st_size) > kMaxKeyFileSize) return UsageError(path + ": is larger than 8 MiB");

  const size_t size = static_cast<size_t>(st.st_size);
  SecretBytes secret(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd.get(), secret.data() + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(path + ": read failed: " + std::strerror(errno));
    }
    if (n == 0) return IoError(path + ": changed while being read (shorter than its size)");
    done += static_cast<size_t>(n);
  }
  // A file that grew after fstat would give a different passphrase than the
  // one cryptsetup reads later: refuse it.
  uint8_t extra = 0;
  ssize_t n;
  do {
    n = ::read(fd.get(), &extra, 1);
  } while (n < 0 && errno == EINTR);
  OPENSSL_cleanse(&extra, sizeof extra);
  if (n > 0) return IoError(path + ": changed while being read (longer than its size)");
  if (std::memchr(secret.data(), 0, secret.size()) != nullptr) {
    return UsageError(path + ": the passphrase contains a NUL byte, which libguestfs cannot pass to cryptsetup");
  }
  return secret;
}

Result<SecretBytes> RandomSecret(size_t n) {
  if (n > static_cast<size_t>(INT_MAX))
    return UsageError("random secret of " + std::to_string(n) + " bytes is too large");
  SecretBytes secret(n);
  if (n > 0 && RAND_priv_bytes(secret.data(), static_cast<int>(n)) != 1) {
    return IoError("OpenSSL's random number generator failed");
  }
  return secret;
}

Result<SecretBytes> GeneratePassphrase() {
  // ADE's extension (BekUtil.generate_passphrase) reads 127 bytes of
  // /dev/urandom and base64-encodes them.
  constexpr size_t kRawBytes = 127;
  constexpr size_t kEncodedChars = 4 * ((kRawBytes + 2) / 3);  // 172
  ASSIGN_OR_RETURN(SecretBytes raw, RandomSecret(kRawBytes));
  // EVP_EncodeBlock writes a terminating NUL after the 172 characters: room
  // for it, then Truncate drops it from the size.
  SecretBytes encoded(kEncodedChars + 1);
  const int written = EVP_EncodeBlock(encoded.data(), raw.data(), static_cast<int>(raw.size()));
  if (written != static_cast<int>(kEncodedChars)) return IoError("base64 encoding of the passphrase failed");
  encoded.Truncate(kEncodedChars);
  return encoded;  // raw is wiped by its destructor
}

}  // namespace vhdcrypt
