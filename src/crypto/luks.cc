#include "src/crypto/luks.h"

#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <utility>

namespace vhdcrypt {
namespace {

// The scratch device: the header libcryptsetup lays out (16 MiB by default
// for LUKS2) plus a little data area, since crypt_format refuses a device
// with no room for data after the header.
constexpr uint64_t kScratchHeaderRoom = 16 * 1024 * 1024;
constexpr uint64_t kScratchDataRoom = 1024 * 1024;
// cryptsetup's default. libcryptsetup lowers it to the number of online CPUs
// of the machine formatting (2 on a small build VM), and that is what the
// header records.
constexpr uint32_t kArgon2Threads = 4;
constexpr uint64_t kMinHeaderBytes = 4096;

// libcryptsetup's limits for forced costs (crypt_pbkdf_get_limits, not
// exported): verify_pbkdf_params refuses anything below them.
constexpr uint32_t kPbkdf2MinIterations = 1000;
constexpr uint32_t kArgon2MinTimeCost = 4;
constexpr uint32_t kArgon2MinMemoryKb = 32;
constexpr uint32_t kArgon2MaxThreads = 4;

// libcryptsetup benchmarks PBKDF2 for a second and scales the result to the
// target time (crypt_benchmark_pbkdf_internal); CalibrateLuksOptions does the
// same so that its costs are the ones crypt_format would have chosen.
constexpr uint32_t kPbkdf2BenchmarkMs = 1000;
// The benchmark's input: a fixed dummy password and a salt of the size LUKS2
// key slots use. Never the real passphrase; PBKDF cost does not depend on the
// password's bytes.
constexpr char kBenchmarkPassword[] = "vhdcrypt-pbkdf-benchmark";
constexpr size_t kBenchmarkSaltBytes = 32;  // LUKS_SALTSIZE

uint64_t RoundUp4096(uint64_t v) { return (v + 4095) / 4096 * 4096; }

// libcryptsetup's messages, routed to spdlog; the last error is kept for the
// Error we return. libcryptsetup does not put passphrases or keys in its
// messages (luks_test checks this with its debug output on).
struct LogSink {
  std::string last_error;
};

void RouteLog(int level, const char* msg, void* usrptr) {
  if (msg == nullptr) return;
  std::string_view text(msg);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return;
  spdlog::debug("libcryptsetup: {}", text);
  if (level == CRYPT_LOG_ERROR && usrptr != nullptr) static_cast<LogSink*>(usrptr)->last_error = std::string(text);
}

// An in-memory file: a memfd that libcryptsetup reaches through
// /proc/self/fd/N, so no header (and no scratch key material) ever touches a
// disk and no device-mapper device is needed.
class Memfd {
 public:
  static Result<Memfd> Create(uint64_t size) {
    const int fd = ::memfd_create("vhdcrypt-luks", MFD_CLOEXEC);
    if (fd < 0) return IoError(std::string("memfd_create: ") + std::strerror(errno));
    Memfd m(fd);
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      return IoError("sizing the in-memory LUKS scratch device: " + std::string(std::strerror(errno)));
    }
    return m;
  }
  ~Memfd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Memfd(Memfd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Memfd& operator=(Memfd&&) = delete;

  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

  Status WriteAll(uint64_t offset, const uint8_t* data, size_t size) const {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoError(std::string("writing the in-memory LUKS device: ") + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    return Status();
  }

  Status ReadAll(uint64_t offset, uint8_t* data, size_t size) const {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pread(fd_, data + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError(std::string("reading the in-memory LUKS device: ") + std::strerror(errno));
      if (n == 0) return IoError("reading the in-memory LUKS device: unexpected end of file");
      done += static_cast<size_t>(n);
    }
    return Status();
  }

 private:
  explicit Memfd(int fd) : fd_(fd) {}
  int fd_;
};

// A crypt_device whose messages go to a LogSink. Declared after the Memfd it
// opens, so it is freed before the memfd is closed.
class CryptDevice {
 public:
  // path nullptr: a context with no device, enough for benchmarks.
  // data_path: the data device of a detached header (nullptr: attached).
  static Result<CryptDevice> Open(const char* path, LogSink* sink, const char* data_path = nullptr) {
    // crypt_init logs before a device exists to attach a callback to, and
    // libdevmapper's messages come without a device: without a default
    // callback libcryptsetup prints those to stdout/stderr itself.
    static std::once_flag default_log;
    std::call_once(default_log, [] { crypt_set_log_callback(nullptr, RouteLog, nullptr); });
    crypt_device* cd = nullptr;
    const int r = data_path != nullptr ? crypt_init_data_device(&cd, path, data_path) : crypt_init(&cd, path);
    if (r < 0) {
      return IoError(std::string(path != nullptr ? "libcryptsetup cannot open the in-memory LUKS device: "
                                                 : "libcryptsetup cannot make a context: ") +
                     Describe(r, *sink));
    }
    crypt_set_log_callback(cd, RouteLog, sink);
    return CryptDevice(cd);
  }
  ~CryptDevice() {
    if (cd_ != nullptr) crypt_free(cd_);
  }
  CryptDevice(CryptDevice&& other) noexcept : cd_(std::exchange(other.cd_, nullptr)) {}
  CryptDevice& operator=(CryptDevice&&) = delete;

  crypt_device* get() const { return cd_; }

  // libcryptsetup's own error message if it gave one, else the errno text.
  static std::string Describe(int r, const LogSink& sink) {
    if (!sink.last_error.empty()) return sink.last_error;
    return std::strerror(-r);
  }

 private:
  explicit CryptDevice(crypt_device* cd) : cd_(cd) {}
  crypt_device* cd_;
};

bool IsUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_here ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

}  // namespace

// The PBKDF fields of LuksOptions: the target and caps libcryptsetup
// benchmarks against, or the explicit costs.
Status CheckPbkdfOptions(const LuksOptions& options) {
  const std::string name = PbkdfName(options.pbkdf);
  if (options.pbkdf == Pbkdf::kArgon2id && options.max_memory_kb < kArgon2MinMemoryKb) {
    return UsageError("Argon2 memory cap of " + std::to_string(options.max_memory_kb) + " KiB is below 32 KiB");
  }
  if (options.iterations == 0) {
    if (options.memory_kb != 0 || options.parallel_threads != 0) {
      return UsageError("PBKDF memory or thread cost given without iterations");
    }
    if (options.iter_time_ms == 0) return UsageError("PBKDF iteration time must be at least 1 ms");
    return Status();
  }
  if (options.pbkdf == Pbkdf::kPbkdf2) {
    if (options.iterations < kPbkdf2MinIterations) {
      return UsageError("pbkdf2 iterations " + std::to_string(options.iterations) + " are below the minimum of " +
                        std::to_string(kPbkdf2MinIterations));
    }
    if (options.memory_kb != 0 || options.parallel_threads != 0) {
      return UsageError("pbkdf2 has no memory or thread cost");
    }
    return Status();
  }
  if (options.iterations < kArgon2MinTimeCost) {
    return UsageError(name + " time cost " + std::to_string(options.iterations) + " is below the minimum of " +
                      std::to_string(kArgon2MinTimeCost));
  }
  if (options.memory_kb < kArgon2MinMemoryKb || options.memory_kb > options.max_memory_kb) {
    return UsageError(name + " memory cost of " + std::to_string(options.memory_kb) + " KiB is outside 32 KiB to " +
                      std::to_string(options.max_memory_kb) + " KiB (the memory cap)");
  }
  if (options.parallel_threads < 1 || options.parallel_threads > kArgon2MaxThreads) {
    return UsageError(name + " parallel threads " + std::to_string(options.parallel_threads) +
                      " is not between 1 and " + std::to_string(kArgon2MaxThreads));
  }
  return Status();
}

namespace {

Status CheckOptions(const SecretBytes& passphrase, const SecretBytes& volume_key, const LuksOptions& options) {
  if (options.sector_size != 512 && options.sector_size != 4096) {
    return UsageError("LUKS2 sector size " + std::to_string(options.sector_size) + " is not supported (512 or 4096)");
  }
  if (volume_key.size() != kLuksKeyBytes) {
    return UsageError("volume key is " + std::to_string(volume_key.size()) + " bytes, aes-xts-plain64 needs " +
                      std::to_string(kLuksKeyBytes));
  }
  const size_t half = kLuksKeyBytes / 2;
  if (CRYPTO_memcmp(volume_key.data(), volume_key.data() + half, half) == 0) {
    return UsageError("volume key has two equal halves, which XTS forbids");
  }
  if (passphrase.empty()) return UsageError("passphrase is empty");
  RETURN_IF_ERROR(CheckPbkdfOptions(options));
  if (!options.uuid.empty() && !IsUuid(options.uuid)) {
    return UsageError("\"" + options.uuid + "\" is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
  }
  return Status();
}

// What FormatLuksHeader asks libcryptsetup for: a target time to benchmark
// against, or (iterations != 0) fixed costs and no benchmark at all.
crypt_pbkdf_type PbkdfRequest(const LuksOptions& options) {
  crypt_pbkdf_type pbkdf = {};
  pbkdf.type = PbkdfName(options.pbkdf);
  pbkdf.time_ms = options.iter_time_ms;
  if (options.pbkdf == Pbkdf::kArgon2id) {
    pbkdf.max_memory_kb = options.max_memory_kb;
    pbkdf.parallel_threads = kArgon2Threads;
  } else {
    pbkdf.hash = "sha256";
  }
  if (options.iterations != 0) {
    // With this flag libcryptsetup skips the key slot benchmark
    // (crypt_benchmark_pbkdf_internal: "Reusing PBKDF values") and the volume
    // key digest's too (LUKS2 PBKDF2_digest_store takes the PBKDF2 minimum).
    pbkdf.flags = CRYPT_PBKDF_NO_BENCHMARK;
    pbkdf.iterations = options.iterations;
    if (options.pbkdf == Pbkdf::kArgon2id) {
      pbkdf.max_memory_kb = options.memory_kb;
      pbkdf.parallel_threads = options.parallel_threads;
    }
  }
  return pbkdf;
}

int LogBenchmarkStep(uint32_t time_ms, void*) {
  spdlog::debug("libcryptsetup: PBKDF benchmark step took {} ms", time_ms);
  return 0;
}

}  // namespace

const char* PbkdfName(Pbkdf pbkdf) {
  switch (pbkdf) {
    case Pbkdf::kArgon2id: return CRYPT_KDF_ARGON2ID;
    case Pbkdf::kPbkdf2: return CRYPT_KDF_PBKDF2;
  }
  return "unknown";
}

Result<LuksHeader> FormatLuksHeader(const SecretBytes& passphrase, const SecretBytes& volume_key,
                                    const LuksOptions& options) {
  RETURN_IF_ERROR(CheckOptions(passphrase, volume_key, options));

  // Attached: one scratch device holds header and data room. Detached: the
  // header device holds just the header, and a scratch data device stands
  // for the volume (the data segment runs to its end, so its size is not
  // recorded).
  ASSIGN_OR_RETURN(Memfd memfd, Memfd::Create(options.detached ? kScratchHeaderRoom
                                                               : RoundUp4096(kScratchHeaderRoom + kScratchDataRoom)));
  std::optional<Memfd> data_memfd;
  if (options.detached) {
    ASSIGN_OR_RETURN(Memfd m, Memfd::Create(kScratchDataRoom));
    data_memfd.emplace(std::move(m));
  }
  LogSink sink;
  ASSIGN_OR_RETURN(CryptDevice cd,
                   CryptDevice::Open(memfd.path().c_str(), &sink, data_memfd ? data_memfd->path().c_str() : nullptr));

  const crypt_pbkdf_type pbkdf = PbkdfRequest(options);
  int r = crypt_set_pbkdf_type(cd.get(), &pbkdf);
  if (r < 0) return UsageError(std::string("PBKDF ") + pbkdf.type + " refused: " + CryptDevice::Describe(r, sink));

  crypt_params_luks2 params = {};
  params.sector_size = options.sector_size;
  // data_alignment 0: libcryptsetup's default layout, data at 16 MiB.
  r = crypt_format(cd.get(), CRYPT_LUKS2, kLuksCipher, kLuksCipherMode,
                   options.uuid.empty() ? nullptr : options.uuid.c_str(),
                   reinterpret_cast<const char*>(volume_key.data()), volume_key.size(), &params);
  if (r < 0) return IoError("formatting the LUKS2 header: " + CryptDevice::Describe(r, sink));
  if (!options.label.empty()) {
    r = crypt_set_label(cd.get(), options.label.c_str(), nullptr);
    if (r < 0) return IoError("setting the LUKS2 label: " + CryptDevice::Describe(r, sink));
  }

  r = crypt_keyslot_add_by_volume_key(cd.get(), CRYPT_ANY_SLOT, reinterpret_cast<const char*>(volume_key.data()),
                                      volume_key.size(), reinterpret_cast<const char*>(passphrase.data()),
                                      passphrase.size());
  if (r < 0) return IoError("adding the LUKS2 key slot: " + CryptDevice::Describe(r, sink));
  if (options.iterations != 0) {
    // The costs asked for are the costs written (threads aside: libcryptsetup
    // lowers them to the online CPUs).
    crypt_pbkdf_type got = {};
    const int g = crypt_keyslot_get_pbkdf(cd.get(), r, &got);
    if (g < 0) return IoError("reading back the LUKS2 key slot PBKDF: " + CryptDevice::Describe(g, sink));
    const uint32_t want_memory = options.pbkdf == Pbkdf::kArgon2id ? options.memory_kb : 0;
    if (got.iterations != options.iterations || got.max_memory_kb != want_memory) {
      return IoError("libcryptsetup gave the LUKS2 key slot " + std::to_string(got.iterations) + " iterations and " +
                     std::to_string(got.max_memory_kb) + " KiB, not the " + std::to_string(options.iterations) +
                     " and " + std::to_string(want_memory) + " KiB asked for");
    }
  }

  LuksHeader header;
  header.data_offset = crypt_get_data_offset(cd.get()) * 512;
  const char* uuid = crypt_get_uuid(cd.get());
  header.uuid = uuid != nullptr ? uuid : "";
  header.sector_size = options.sector_size;
  header.pbkdf = options.pbkdf;
  uint64_t header_bytes = header.data_offset;
  if (options.detached) {
    if (header.data_offset != 0) {
      return IoError("libcryptsetup placed the detached LUKS2 data segment at " + std::to_string(header.data_offset) +
                     " bytes, not at the start of the volume");
    }
    // Two copies of the binary header and JSON area, then the key slots.
    uint64_t metadata = 0, keyslots = 0;
    r = crypt_get_metadata_size(cd.get(), &metadata, &keyslots);
    if (r < 0) return IoError("reading the LUKS2 header size: " + CryptDevice::Describe(r, sink));
    header_bytes = 2 * metadata + keyslots;
  }
  if (header_bytes < kMinHeaderBytes || header_bytes > kScratchHeaderRoom) {
    return IoError("libcryptsetup made a LUKS2 header of " + std::to_string(header_bytes) +
                   " bytes, outside the expected header room");
  }
  header.bytes.resize(header_bytes);
  RETURN_IF_ERROR(memfd.ReadAll(0, header.bytes.data(), header.bytes.size()));
  return header;
}

Result<SecretBytes> RandomVolumeKey() {
  for (;;) {
    ASSIGN_OR_RETURN(SecretBytes key, RandomSecret(kLuksKeyBytes));
    // XTS refuses equal halves; with 256 random bits each this never repeats,
    // but the check costs nothing.
    if (CRYPTO_memcmp(key.data(), key.data() + kLuksKeyBytes / 2, kLuksKeyBytes / 2) != 0) return key;
  }
}

Result<SecretBytes> GenerateRecoveryKey() {
  constexpr size_t kRawBytes = 32;
  constexpr char kModhex[] = "cbdefghijklnrtuv";
  ASSIGN_OR_RETURN(SecretBytes raw, RandomSecret(kRawBytes));
  SecretBytes key(kRecoveryKeyChars);
  size_t at = 0;
  for (size_t i = 0; i < kRawBytes; ++i) {
    if (i > 0 && i % 4 == 0) key.data()[at++] = '-';
    key.data()[at++] = static_cast<uint8_t>(kModhex[raw.data()[i] >> 4]);
    key.data()[at++] = static_cast<uint8_t>(kModhex[raw.data()[i] & 0xf]);
  }
  return key;
}

Result<LuksOptions> CalibrateLuksOptions(const LuksOptions& options) {
  RETURN_IF_ERROR(CheckPbkdfOptions(options));
  if (options.iterations != 0) return options;

  LogSink sink;
  ASSIGN_OR_RETURN(CryptDevice cd, CryptDevice::Open(nullptr, &sink));
  const crypt_pbkdf_type request = PbkdfRequest(options);
  int r = crypt_set_pbkdf_type(cd.get(), &request);
  if (r < 0) return UsageError(std::string("PBKDF ") + request.type + " refused: " + CryptDevice::Describe(r, sink));
  // What crypt_format would benchmark: the request as libcryptsetup adjusted
  // it, threads lowered to the online CPUs and memory to physical memory.
  const crypt_pbkdf_type* adjusted = crypt_get_pbkdf_type(cd.get());
  if (adjusted == nullptr) return IoError("libcryptsetup kept no PBKDF settings");
  crypt_pbkdf_type bench = *adjusted;  // its strings belong to cd, which outlives bench
  bench.iterations = 0;
  bench.flags = 0;
  if (options.pbkdf == Pbkdf::kPbkdf2) {
    bench.time_ms = kPbkdf2BenchmarkMs;
    bench.max_memory_kb = 0;
    bench.parallel_threads = 0;
  }
  const uint8_t salt[kBenchmarkSaltBytes] = {};
  r = crypt_benchmark_pbkdf(cd.get(), &bench, kBenchmarkPassword, sizeof kBenchmarkPassword - 1,
                            reinterpret_cast<const char*>(salt), sizeof salt, kLuksKeyBytes, LogBenchmarkStep, nullptr);
  if (r < 0 || bench.iterations == 0) {
    return IoError(std::string("benchmarking ") + request.type + ": " +
                   CryptDevice::Describe(r < 0 ? r : -EINVAL, sink));
  }

  LuksOptions calibrated = options;
  if (options.pbkdf == Pbkdf::kPbkdf2) {
    const uint64_t scaled = uint64_t{bench.iterations} * options.iter_time_ms / kPbkdf2BenchmarkMs;
    if (scaled > UINT32_MAX) {
      return UsageError("pbkdf2 iteration time " + std::to_string(options.iter_time_ms) + " ms is too long");
    }
    calibrated.iterations = std::max(static_cast<uint32_t>(scaled), kPbkdf2MinIterations);
    calibrated.memory_kb = 0;
    calibrated.parallel_threads = 0;
  } else {
    calibrated.iterations = std::max(bench.iterations, kArgon2MinTimeCost);
    calibrated.memory_kb = std::clamp(bench.max_memory_kb, kArgon2MinMemoryKb, options.max_memory_kb);
    calibrated.parallel_threads = bench.parallel_threads;
  }
  spdlog::debug("{} calibrated for {} ms: {} iterations, {} KiB, {} threads", request.type, options.iter_time_ms,
                calibrated.iterations, calibrated.memory_kb, calibrated.parallel_threads);
  return calibrated;
}

namespace {
// Cipher ("aes-xts-plain64"), sector size and data offset of a loaded header.
void ReadParams(crypt_device* cd, std::string& cipher_out, uint32_t& sector_out, uint64_t& offset_out) {
  const char* cipher = crypt_get_cipher(cd);
  const char* mode = crypt_get_cipher_mode(cd);
  cipher_out = std::string(cipher == nullptr ? "" : cipher) + "-" + (mode == nullptr ? "" : mode);
  const int sector = crypt_get_sector_size(cd);
  sector_out = sector > 0 ? static_cast<uint32_t>(sector) : 512;
  offset_out = crypt_get_data_offset(cd) * 512;
}

// A caller's LUKS2 header loaded by libcryptsetup from a memfd, with
// kScratchDataRoom zero bytes after it. On the heap, so the sink the device
// logs to stays put; members in this order, so the device is freed before
// the memfd closes.
struct LoadedHeader {
  Memfd memfd;
  uint64_t size;  // of the memfd
  LogSink sink;
  std::optional<CryptDevice> cd;
};

// type: CRYPT_LUKS2, or CRYPT_LUKS for either version (only to inspect).
Result<std::unique_ptr<LoadedHeader>> LoadHeader(const std::vector<uint8_t>& header, const char* type = CRYPT_LUKS2) {
  if (header.size() < kMinHeaderBytes) {
    return InvalidInput("LUKS2 header of " + std::to_string(header.size()) + " bytes is too short");
  }
  const uint64_t size = RoundUp4096(header.size()) + kScratchDataRoom;
  ASSIGN_OR_RETURN(Memfd memfd, Memfd::Create(size));
  RETURN_IF_ERROR(memfd.WriteAll(0, header.data(), header.size()));
  auto loaded = std::unique_ptr<LoadedHeader>(new LoadedHeader{std::move(memfd), size, {}, std::nullopt});
  ASSIGN_OR_RETURN(CryptDevice cd, CryptDevice::Open(loaded->memfd.path().c_str(), &loaded->sink));
  loaded->cd.emplace(std::move(cd));
  const int r = crypt_load(loaded->cd->get(), type, nullptr);
  if (r < 0) {
    // A missing signature is -EINVAL with nothing logged at error level.
    const std::string& logged = loaded->sink.last_error;
    const std::string why = logged.empty() && r != -EINVAL ? std::strerror(-r) : logged;
    const std::string what = std::strcmp(type, CRYPT_LUKS2) == 0 ? "LUKS2" : "LUKS";
    return InvalidInput("not a valid " + what + " header" + (why.empty() ? std::string() : ": " + why));
  }
  return loaded;
}
}  // namespace

Result<UnlockedLuks> UnlockLuksVolume(const std::vector<uint8_t>& header, const SecretBytes& passphrase) {
  ASSIGN_OR_RETURN(auto loaded, LoadHeader(header));
  crypt_device* cd = loaded->cd->get();
  const int key_size = crypt_get_volume_key_size(cd);
  if (key_size <= 0) return InvalidInput("LUKS2 header has no volume key size");
  SecretBytes key(static_cast<size_t>(key_size));
  size_t got = key.size();
  int r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, reinterpret_cast<char*>(key.data()), &got,
                               reinterpret_cast<const char*>(passphrase.data()), passphrase.size());
  if (r == -EPERM) return UsageError("no key slot opens with this passphrase");
  if (r == -ENOENT) return InvalidInput("LUKS2 header has no key slot");
  if (r < 0) return IoError("unlocking the LUKS2 key slot: " + CryptDevice::Describe(r, loaded->sink));
  key.Truncate(got);
  UnlockedLuks u{std::move(key)};
  ReadParams(cd, u.cipher, u.sector_size, u.data_offset);
  return u;
}

Result<SecretBytes> UnlockLuksHeader(const std::vector<uint8_t>& header, const SecretBytes& passphrase) {
  ASSIGN_OR_RETURN(UnlockedLuks u, UnlockLuksVolume(header, passphrase));
  return std::move(u.key);
}

namespace {
// The header bytes after libcryptsetup changed them in place; it must not
// have written past the bytes it was given.
Result<std::vector<uint8_t>> ChangedHeader(std::unique_ptr<LoadedHeader> loaded, size_t header_size) {
  loaded->cd.reset();  // libcryptsetup's writes are all done
  std::vector<uint8_t> changed(header_size);
  RETURN_IF_ERROR(loaded->memfd.ReadAll(0, changed.data(), changed.size()));
  std::vector<uint8_t> tail(loaded->size - header_size);
  RETURN_IF_ERROR(loaded->memfd.ReadAll(header_size, tail.data(), tail.size()));
  if (std::any_of(tail.begin(), tail.end(), [](uint8_t b) { return b != 0; })) {
    return IoError("libcryptsetup wrote past the " + std::to_string(header_size) + " header bytes given");
  }
  return changed;
}

// A header loaded to get a new key slot, with the PBKDF and costs of `options`.
Result<std::unique_ptr<LoadedHeader>> LoadForNewKeySlot(const std::vector<uint8_t>& header,
                                                        const LuksOptions& options) {
  RETURN_IF_ERROR(CheckPbkdfOptions(options));
  ASSIGN_OR_RETURN(auto loaded, LoadHeader(header));
  const crypt_pbkdf_type pbkdf = PbkdfRequest(options);
  const int r = crypt_set_pbkdf_type(loaded->cd->get(), &pbkdf);
  if (r < 0)
    return UsageError(std::string("PBKDF ") + pbkdf.type + " refused: " + CryptDevice::Describe(r, loaded->sink));
  return loaded;
}
}  // namespace

Result<std::vector<uint8_t>> AddLuksRecoveryKey(const std::vector<uint8_t>& header, const SecretBytes& volume_key,
                                                const SecretBytes& recovery, const LuksOptions& options) {
  ASSIGN_OR_RETURN(auto loaded, LoadForNewKeySlot(header, options));
  crypt_device* cd = loaded->cd->get();
  const int slot = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, reinterpret_cast<const char*>(volume_key.data()),
                                                   volume_key.size(), reinterpret_cast<const char*>(recovery.data()),
                                                   recovery.size());
  if (slot == -EPERM || slot == -EINVAL) return UsageError("the volume key does not match the LUKS2 header");
  if (slot < 0) return IoError("adding the recovery key slot: " + CryptDevice::Describe(slot, loaded->sink));
  const std::string token = R"({"type":"systemd-recovery","keyslots":[")" + std::to_string(slot) + R"("]})";
  const int r = crypt_token_json_set(cd, CRYPT_ANY_TOKEN, token.c_str());
  if (r < 0) return IoError("adding the systemd-recovery token: " + CryptDevice::Describe(r, loaded->sink));
  return ChangedHeader(std::move(loaded), header.size());
}

Result<std::vector<uint8_t>> ChangeLuksPassphrase(const std::vector<uint8_t>& header, const SecretBytes& old_passphrase,
                                                  const SecretBytes& new_passphrase, const LuksOptions& options) {
  ASSIGN_OR_RETURN(auto loaded, LoadForNewKeySlot(header, options));
  crypt_device* cd = loaded->cd->get();
  const int r = crypt_keyslot_change_by_passphrase(
      cd, CRYPT_ANY_SLOT, CRYPT_ANY_SLOT, reinterpret_cast<const char*>(old_passphrase.data()), old_passphrase.size(),
      reinterpret_cast<const char*>(new_passphrase.data()), new_passphrase.size());
  if (r == -EPERM) return UsageError("no key slot opens with the old passphrase");
  if (r < 0) return IoError("changing the LUKS2 key slot: " + CryptDevice::Describe(r, loaded->sink));
  return ChangedHeader(std::move(loaded), header.size());
}

unsigned LuksVersion(std::span<const uint8_t> head) {
  static const uint8_t kMagic[6] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
  static const uint8_t kSecondMagic[6] = {'S', 'K', 'U', 'L', 0xba, 0xbe};
  if (head.size() < 8 ||
      !(std::equal(kMagic, kMagic + 6, head.begin()) || std::equal(kSecondMagic, kSecondMagic + 6, head.begin()))) {
    return 0;
  }
  return static_cast<unsigned>(head[6]) << 8 | head[7];
}

Result<uint64_t> Luks2HdrSize(const std::string& what, std::span<const uint8_t> head) {
  if (head.size() < 16 || LuksVersion(head) == 0) return uint64_t{0};
  const unsigned version = LuksVersion(head);
  if (version != 2) return InvalidInput(what + ": LUKS version (offset 6) " + std::to_string(version) + ", expected 2");
  uint64_t hdr_size = 0;
  for (int i = 8; i < 16; ++i) hdr_size = hdr_size << 8 | head[i];
  if (hdr_size < 16384 || hdr_size > (4u << 20) || (hdr_size & (hdr_size - 1)) != 0) {
    return InvalidInput(what + ": LUKS2 hdr_size (offset 8) " + std::to_string(hdr_size) +
                        " is not a power of two from 16384 to 4194304");
  }
  return hdr_size;
}

Result<uint64_t> Luks1HeaderBytes(const std::string& what, std::span<const uint8_t> phdr) {
  // LUKS1 has no secondary copy: only the primary signature counts.
  if (phdr.size() < kLuks1PhdrBytes || LuksVersion(phdr) == 0 || phdr[0] != 'L') {
    return InvalidInput(what + ": no LUKS signature");
  }
  auto be32 = [&](size_t at) {
    return static_cast<uint32_t>(phdr[at]) << 24 | static_cast<uint32_t>(phdr[at + 1]) << 16 |
           static_cast<uint32_t>(phdr[at + 2]) << 8 | phdr[at + 3];
  };
  const unsigned version = LuksVersion(phdr);
  if (version != 1) return InvalidInput(what + ": LUKS version (offset 6) " + std::to_string(version) + ", expected 1");
  const uint64_t key_bytes = be32(108);
  if (key_bytes == 0 || key_bytes > 512) {
    return InvalidInput(what + ": LUKS1 key-bytes (offset 108) " + std::to_string(key_bytes) + " is not 1 to 512");
  }
  // The header ends where the payload starts, or after its last key
  // material (a detached LUKS1 header has a payload offset of 0).
  uint64_t end = uint64_t{be32(104)} * 512;
  for (int slot = 0; slot < 8; ++slot) {
    const size_t at = 208 + 48 * static_cast<size_t>(slot);
    const uint64_t material = uint64_t{be32(at + 40)} * 512;
    const uint64_t stripes = be32(at + 44);
    if (be32(at) != 0x00AC71F3) continue;  // not an active key slot
    if (stripes == 0 || stripes > 65536) {
      return InvalidInput(what + ": LUKS1 key slot " + std::to_string(slot) + " has " + std::to_string(stripes) +
                          " stripes");
    }
    end = std::max(end, material + (key_bytes * stripes + 511) / 512 * 512);
  }
  if (end < kLuks1PhdrBytes || end > kMaxLuks1HeaderBytes) {
    return InvalidInput(what + ": LUKS1 header of " + std::to_string(end) + " bytes: not from 592 bytes to 16 MiB");
  }
  return end;
}

Result<uint64_t> Luks2MetadataBytes(const std::string& what, std::span<const uint8_t> primary) {
  ASSIGN_OR_RETURN(uint64_t hdr_size, Luks2HdrSize(what, primary));
  if (hdr_size == 0) return InvalidInput(what + ": no LUKS signature");
  if (primary.size() < hdr_size) return InvalidInput(what + ": LUKS2 header shorter than its hdr_size");
  const auto* text = reinterpret_cast<const char*>(primary.data()) + 4096;
  const auto* stop = reinterpret_cast<const char*>(primary.data()) + hdr_size;
  auto json = nlohmann::json::parse(text, std::find(text, stop, '\0'), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return InvalidInput(what + ": the LUKS2 JSON area (offset 4096) is not a JSON object");
  }
  const auto config = json.find("config");
  if (config == json.end() || !config->is_object() || !config->contains("keyslots_size") ||
      !(*config)["keyslots_size"].is_string()) {
    return InvalidInput(what + ": LUKS2 JSON (offset 4096) has no config.keyslots_size");
  }
  const std::string ks = (*config)["keyslots_size"].get<std::string>();
  if (ks.empty() || ks.size() > 12 || ks.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidInput(what + ": LUKS2 config.keyslots_size '" + ks + "' is not a byte count");
  }
  const uint64_t keyslots = std::stoull(ks);
  if (keyslots > (128u << 20)) return InvalidInput(what + ": LUKS2 config.keyslots_size " + ks + " is over 128 MiB");
  return 2 * hdr_size + keyslots;
}

void KeySlotsAndTokensFromJson(std::string_view text, LuksInfo& info) {
  info.key_slots.clear();
  info.tokens.clear();
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object()) return;
  auto number = [](const std::string& s, int* out) {
    if (s.empty() || s.size() > 3 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    *out = std::stoi(s);
    return true;
  };
  const auto tokens = doc.find("tokens");
  if (tokens != doc.end() && tokens->is_object()) {
    for (const auto& [id, token] : tokens->items()) {
      LuksToken t;
      if (!number(id, &t.id) || !token.is_object()) continue;
      const auto type = token.find("type");
      if (type == token.end() || !type->is_string()) continue;
      t.type = type->get<std::string>();
      const auto slots = token.find("keyslots");
      if (slots != token.end() && slots->is_array()) {
        for (const auto& k : *slots) {
          int slot = 0;
          if (k.is_string() && number(k.get<std::string>(), &slot)) t.keyslots.push_back(slot);
        }
      }
      info.tokens.push_back(std::move(t));
    }
  }
  std::sort(info.tokens.begin(), info.tokens.end(), [](const LuksToken& a, const LuksToken& b) { return a.id < b.id; });
  const auto slots = doc.find("keyslots");
  if (slots == doc.end() || !slots->is_object()) return;
  for (const auto& [id, slot] : slots->items()) {
    LuksKeySlot k;
    if (!number(id, &k.slot) || !slot.is_object()) continue;
    k.kind = "passphrase";
    for (const LuksToken& t : info.tokens) {
      if (std::find(t.keyslots.begin(), t.keyslots.end(), k.slot) == t.keyslots.end()) continue;
      k.kind = t.type == "systemd-recovery" ? "recovery" : t.type;
    }
    info.key_slots.push_back(std::move(k));
  }
  std::sort(info.key_slots.begin(), info.key_slots.end(),
            [](const LuksKeySlot& a, const LuksKeySlot& b) { return a.slot < b.slot; });
}

Result<LuksInfo> InspectLuksHeader(const std::vector<uint8_t>& header) {
  ASSIGN_OR_RETURN(auto loaded, LoadHeader(header, CRYPT_LUKS));
  crypt_device* cd = loaded->cd->get();
  LuksInfo info;
  const char* type = crypt_get_type(cd);
  info.version = type != nullptr && std::strcmp(type, CRYPT_LUKS1) == 0 ? 1 : 2;
  const char* uuid = crypt_get_uuid(cd);
  info.uuid = uuid == nullptr ? "" : uuid;
  ReadParams(cd, info.cipher, info.sector_size, info.data_offset);
  const int key_bytes = crypt_get_volume_key_size(cd);
  info.key_bits = key_bytes > 0 ? static_cast<uint32_t>(key_bytes) * 8 : 0;
  if (info.version == 1) return info;
  const char* label = crypt_get_label(cd);
  info.label = label == nullptr ? "" : label;
  uint32_t requirements = 0;
  if (crypt_persistent_flags_get(cd, CRYPT_FLAGS_REQUIREMENTS, &requirements) == 0) {
    info.unknown_requirements = (requirements & CRYPT_REQUIREMENT_UNKNOWN) != 0;
  }
  // Only a reencryption that is under way, or was cut off, is one: a state
  // libcryptsetup calls invalid (unknown requirement flags among others) is not.
  const crypt_reencrypt_info state = crypt_reencrypt_status(cd, nullptr);
  info.reencrypting = state == CRYPT_REENCRYPT_CLEAN || state == CRYPT_REENCRYPT_CRASH;
  const char* json = nullptr;
  if (crypt_dump_json(cd, &json, 0) == 0 && json != nullptr) KeySlotsAndTokensFromJson(json, info);
  return info;
}

}  // namespace vhdcrypt
