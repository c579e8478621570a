// Positioned I/O behind a small interface. Parsers take a File&, so tests can
// run them over memory or over a file that injects short reads, EIO or ENOSPC.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace vhdcrypt {

// A byte range [offset, offset + length).
struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t end() const { return offset + length; }
  bool operator==(const Extent&) const = default;
};

class File {
 public:
  virtual ~File() = default;

  // The name used in every message about this file.
  virtual const std::string& path() const = 0;

  // Reads at most buf.size() bytes; may return fewer. Returns 0 only at EOF.
  virtual Result<size_t> PRead(uint64_t offset, std::span<uint8_t> buf) = 0;
  // Writes at most buf.size() bytes; may return fewer, never 0 on success.
  virtual Result<size_t> PWrite(uint64_t offset, std::span<const uint8_t> buf) = 0;
  virtual Result<uint64_t> Size() = 0;
  virtual Status Truncate(uint64_t size) = 0;
  virtual Status Sync() = 0;

  // Sub-ranges of [offset, offset+length) that may hold data; the rest is a
  // hole and reads as zeros. The default claims everything may hold data.
  virtual Result<std::vector<Extent>> DataExtents(uint64_t offset, uint64_t length);
  // Makes [offset, offset+length) read as zeros within the file's size. The
  // default writes zeros; a PosixFile deallocates (punches a hole) where the
  // filesystem can.
  virtual Status Zero(uint64_t offset, uint64_t length);
};

// Reads exactly buf.size() bytes, looping over short reads. Reaching EOF first
// is kInvalidInput ("unexpected end of file") since it means a truncated image.
Status ReadFull(File& file, uint64_t offset, std::span<uint8_t> buf);
// Writes all of buf, looping over short writes.
Status WriteFull(File& file, uint64_t offset, std::span<const uint8_t> buf);

// A file descriptor based File. Owns the descriptor.
class PosixFile : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override;
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  const std::string& path() const override { return path_; }
  Result<size_t> PRead(uint64_t offset, std::span<uint8_t> buf) override;
  Result<size_t> PWrite(uint64_t offset, std::span<const uint8_t> buf) override;
  Result<uint64_t> Size() override;
  Status Truncate(uint64_t size) override;
  Status Sync() override;
  Result<std::vector<Extent>> DataExtents(uint64_t offset, uint64_t length) override;
  Status Zero(uint64_t offset, uint64_t length) override;

  int fd() const { return fd_; }

  // For big outputs written front to back: the run of forward writes (gaps
  // allowed) is handed to the kernel's writeback every kWriteBehindKick
  // bytes, and the writer waits for what lies more than kWriteBehindWindow
  // behind before going on, then drops those pages from the page cache (they
  // are on disk). Dirty memory stays bounded, the disk works while the data
  // is produced rather than all at the final fsync, and the output does not
  // evict the page cache. A single write behind the run (a header, a table)
  // is left to the final fsync; two in a row start a new run there.
  void EnableWriteBehind() { write_behind_ = true; }

 private:
  Status WriteBehind(uint64_t offset, size_t n);

  int fd_;
  std::string path_;
  bool write_behind_ = false;
  std::mutex wb_mu_;       // the run below; writes may come from several threads
  uint64_t run_end_ = 0;   // end of the current run of forward writes
  uint64_t last_end_ = 0;  // end of the last write
  uint64_t kicked_ = 0;    // writeback started for [waited_, kicked_)
  uint64_t waited_ = 0;    // run start, or where the last wait ended
};

// Opens an existing file read-only (O_RDONLY | O_CLOEXEC). Directories and
// other non-regular, non-block files are refused.
Result<std::unique_ptr<PosixFile>> OpenReadOnly(const std::string& path);

// A growable in-memory file, for tests and fuzzers.
class MemFile : public File {
 public:
  explicit MemFile(std::string path, std::vector<uint8_t> data = {}) : path_(std::move(path)), data_(std::move(data)) {}

  const std::string& path() const override { return path_; }
  Result<size_t> PRead(uint64_t offset, std::span<uint8_t> buf) override;
  Result<size_t> PWrite(uint64_t offset, std::span<const uint8_t> buf) override;
  Result<uint64_t> Size() override { return static_cast<uint64_t>(data_.size()); }
  Status Truncate(uint64_t size) override;
  Status Sync() override { return {}; }

  std::vector<uint8_t>& data() { return data_; }

 private:
  std::string path_;
  std::vector<uint8_t> data_;
};

// Message helpers shared by the parsers.
// "0x1f400 (128000)" - offsets in messages are given both ways.
std::string FormatOffset(uint64_t value);
// "0x0001f400" - checksums and magic numbers.
std::string Hex32(uint32_t value);
// A fixed-size on-disk string as a quoted literal: "cxSparse", "EFI\x00PART".
std::string QuotedBytes(const char* bytes, size_t n);
// The last component of a path: "out/disk.vhd" -> "disk.vhd".
std::string BaseName(const std::string& path);
constexpr bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace vhdcrypt
