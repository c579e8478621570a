// Secrets in memory and on disk. A passphrase or a volume key lives only in a
// SecretBytes: locked in RAM where the kernel allows (mlock), excluded from
// core dumps (MADV_DONTDUMP), wiped with OPENSSL_cleanse when released, never
// copied implicitly. Nothing here logs or formats a secret.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"

namespace vhdcrypt {

class SecretBytes {
 public:
  SecretBytes() = default;
  // size zero-filled bytes, page-aligned, locked and marked DONTDUMP (both
  // best effort: a failing mlock is not an error, RLIMIT_MEMLOCK is small).
  explicit SecretBytes(size_t size);
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<uint8_t> span() { return {data_, size_}; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  // Constant-time comparison.
  bool Equals(std::span<const uint8_t> other) const;
  // Keeps the first n bytes (n <= size()) and wipes the rest, for a secret
  // whose final length is known only once it has been written in place.
  void Truncate(size_t n);

 private:
  void Release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
};

// Keeps secrets out of core dumps for the rest of the process: RLIMIT_CORE 0
// and PR_SET_DUMPABLE 0. Called by every subcommand that handles keys.
void HardenProcess();

// Largest passphrase file accepted (cryptsetup's default keyfile limit).
constexpr size_t kMaxKeyFileSize = 8 * 1024 * 1024;

// Reads a passphrase file: every byte, as `cryptsetup --key-file` does (a
// trailing newline is part of the passphrase). Refuses (kUsage, naming the
// file) a missing, non-regular, empty or larger-than-8-MiB file, and one
// holding a NUL byte: libguestfs cannot pass it to cryptsetup, so verify
// could not open what encrypt made; every command refuses it alike.
Result<SecretBytes> ReadKeyFile(const std::string& path);

// n bytes from OpenSSL's private DRBG (RAND_priv_bytes).
Result<SecretBytes> RandomSecret(size_t n);

// A new passphrase as ADE makes one: 127 random bytes, base64 encoded
// (172 printable characters ending in "==", no newline).
Result<SecretBytes> GeneratePassphrase();

}  // namespace vhdcrypt
