// A File over memory that misbehaves on request: short reads and writes, EIO
// on reads touching a byte range, ENOSPC once the file would grow past a size.
#pragma once

#include <algorithm>
#include <cstring>

#include "formats/io.h"

namespace vhdcrypt::testing {

class FaultFile : public File {
 public:
  explicit FaultFile(std::string path, std::vector<uint8_t> data = {}) : mem_(std::move(path), std::move(data)) {}

  size_t max_io = SIZE_MAX;        // at most this many bytes per call
  uint64_t eio_from = UINT64_MAX;  // reads touching [eio_from, eio_to) fail
  uint64_t eio_to = UINT64_MAX;
  uint64_t space = UINT64_MAX;  // writes past this size fail with ENOSPC
  int reads = 0;

  const std::string& path() const override { return mem_.path(); }
  Result<size_t> PRead(uint64_t offset, std::span<uint8_t> buf) override {
    ++reads;
    if (offset < eio_to && offset + buf.size() > eio_from) {
      return IoError(path() + ": read at offset " + FormatOffset(offset) + " failed: Input/output error");
    }
    return mem_.PRead(offset, buf.first(std::min(buf.size(), max_io)));
  }
  Result<size_t> PWrite(uint64_t offset, std::span<const uint8_t> buf) override {
    auto part = buf.first(std::min(buf.size(), max_io));
    if (offset + part.size() > space) {
      if (offset >= space) {
        return IoError(path() + ": write at offset " + FormatOffset(offset) + " failed: No space left on device");
      }
      part = part.first(space - offset);  // a short write, then ENOSPC next time
    }
    return mem_.PWrite(offset, part);
  }
  Result<uint64_t> Size() override { return mem_.Size(); }
  Status Truncate(uint64_t size) override { return mem_.Truncate(size); }
  Status Sync() override { return {}; }
  std::vector<uint8_t>& data() { return mem_.data(); }

 private:
  MemFile mem_;
};

}  // namespace vhdcrypt::testing
