#include "formats/writer.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "formats/endian.h"
#include "formats/vhd.h"

namespace vhdcrypt {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint32_t kVhdEpoch = 946684800;  // 2000-01-01 00:00:00 UTC

Status CheckWrite(const File& out, uint64_t size, uint64_t offset, size_t len) {
  if (offset % 512 != 0 || len % 512 != 0 || offset > size || len > size - offset) {
    return IoError(out.path() + ": internal error: write of " + std::to_string(len) + " bytes at " +
                   FormatOffset(offset) + " outside the " + std::to_string(size) + "-byte disk");
  }
  return {};
}

vhd::Footer MakeFooter(vhd::DiskType type, uint64_t size, uint64_t data_offset, const WriterOptions& o) {
  vhd::Footer f;
  f.data_offset = data_offset;
  f.timestamp = o.timestamp;
  // "win ": readers (qemu included) then take current_size as the disk size
  // rather than the CHS product, which is smaller for most sizes. See vhd.h.
  std::memcpy(f.creator_app.data(), "win ", 4);
  f.creator_version = 0x000A0000;
  f.creator_host_os = 0x5769326B;  // "Wi2k"
  f.original_size = size;
  f.current_size = size;
  f.geometry = vhd::GeometryForSize(size);
  f.disk_type = type;
  f.unique_id = o.unique_id;
  return f;
}

class RawWriter : public ImageWriter {
 public:
  RawWriter(File& out, uint64_t size) : out_(out), size_(size) {}
  uint64_t virtual_size() const override { return size_; }
  Status Write(uint64_t offset, std::span<const uint8_t> data) override {
    RETURN_IF_ERROR(CheckWrite(out_, size_, offset, data.size()));
    return WriteFull(out_, offset, data);
  }
  // Sizing the file last leaves unwritten ranges as holes.
  Status Finish() override { return out_.Truncate(size_); }

 private:
  File& out_;
  uint64_t size_;
};

class VhdFixedWriter : public ImageWriter {
 public:
  VhdFixedWriter(File& out, uint64_t size, const WriterOptions& o) : out_(out), size_(size), options_(o) {}
  uint64_t virtual_size() const override { return size_; }
  Status Write(uint64_t offset, std::span<const uint8_t> data) override {
    RETURN_IF_ERROR(CheckWrite(out_, size_, offset, data.size()));
    return WriteFull(out_, offset, data);
  }
  Status Finish() override {
    auto footer = vhd::EncodeFooter(MakeFooter(vhd::DiskType::kFixed, size_, vhd::kNoDataOffset, options_));
    RETURN_IF_ERROR(out_.Truncate(size_));
    return WriteFull(out_, size_, footer);
  }

 private:
  File& out_;
  uint64_t size_;
  WriterOptions options_;
};

// Layout: footer copy @0, dynamic header @512, BAT @1536, then blocks in the
// order they are first written, then the footer.
class VhdDynamicWriter : public ImageWriter {
 public:
  VhdDynamicWriter(File& out, uint64_t size, const WriterOptions& o)
      : out_(out), size_(size), options_(o), bs_(o.block_size), bitmap_(vhd::BitmapBytes(o.block_size), 0xFF) {
    const uint64_t entries = (size + bs_ - 1) / bs_;
    bat_.assign(entries, vhd::kUnallocated);
    bat_bytes_ = (entries * 4 + 511) / 512 * 512;
    next_ = kBatAt + bat_bytes_;
  }
  uint64_t virtual_size() const override { return size_; }

  Status Write(uint64_t offset, std::span<const uint8_t> data) override {
    RETURN_IF_ERROR(CheckWrite(out_, size_, offset, data.size()));
    size_t done = 0;
    while (done < data.size()) {
      const uint64_t pos = offset + done;
      const uint64_t block = pos / bs_;
      const uint64_t in_block = pos % bs_;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(bs_ - in_block, data.size() - done));
      if (bat_[block] == vhd::kUnallocated) {
        if (next_ / 512 >= vhd::kUnallocated) {
          return IoError(out_.path() + ": dynamic VHD would exceed the format's 2 TiB block-offset limit");
        }
        // Every sector is marked present: unwritten parts of the block are
        // holes in the file and read as zeros, which is what they hold.
        RETURN_IF_ERROR(WriteFull(out_, next_, bitmap_));
        bat_[block] = static_cast<uint32_t>(next_ / 512);
        next_ += bitmap_.size() + bs_;
      }
      const uint64_t data_at = uint64_t{bat_[block]} * 512 + bitmap_.size() + in_block;
      RETURN_IF_ERROR(WriteFull(out_, data_at, data.subspan(done, n)));
      done += n;
    }
    return {};
  }

  Status Finish() override {
    auto footer = vhd::EncodeFooter(MakeFooter(vhd::DiskType::kDynamic, size_, kHeaderAt, options_));
    vhd::DynamicHeader h;
    h.table_offset = kBatAt;
    h.max_table_entries = static_cast<uint32_t>(bat_.size());
    h.block_size = bs_;
    auto header = vhd::EncodeDynamicHeader(h);
    std::vector<uint8_t> bat(bat_bytes_, 0xFF);
    for (size_t i = 0; i < bat_.size(); ++i) {
      ub32 v = bat_[i];
      std::memcpy(bat.data() + 4 * i, &v, 4);
    }
    RETURN_IF_ERROR(WriteFull(out_, 0, footer));
    RETURN_IF_ERROR(WriteFull(out_, kHeaderAt, header));
    RETURN_IF_ERROR(WriteFull(out_, kBatAt, bat));
    RETURN_IF_ERROR(WriteFull(out_, next_, footer));
    return out_.Truncate(next_ + footer.size());
  }

 private:
  static constexpr uint64_t kHeaderAt = 512;
  static constexpr uint64_t kBatAt = 512 + 1024;
  File& out_;
  uint64_t size_;
  WriterOptions options_;
  uint32_t bs_;
  std::vector<uint8_t> bitmap_;
  std::vector<uint32_t> bat_;
  uint64_t bat_bytes_;
  uint64_t next_;
};

}  // namespace

uint64_t ContainerVirtualSize(ContainerKind kind, uint64_t requested) {
  if (kind == ContainerKind::kVhdFixed) return (requested + kMiB - 1) / kMiB * kMiB;
  return requested;
}

Result<std::unique_ptr<ImageWriter>> MakeWriter(ContainerKind kind, File& out, uint64_t size,
                                                const WriterOptions& options) {
  if (size == 0 || size % 512 != 0) {
    return UsageError(out.path() + ": virtual size " + std::to_string(size) + " is not a positive multiple of 512");
  }
  switch (kind) {
    case ContainerKind::kRaw: return std::unique_ptr<ImageWriter>(new RawWriter(out, size));
    case ContainerKind::kVhdFixed:
      if (size % kMiB != 0) {
        return UsageError(out.path() + ": fixed VHD size " + std::to_string(size) + " is not a whole number of MiB");
      }
      return std::unique_ptr<ImageWriter>(new VhdFixedWriter(out, size, options));
    case ContainerKind::kVhdDynamic: {
      const uint32_t bs = options.block_size;
      if (bs < 512 || !IsPowerOfTwo(bs) || bs > vhd::kMaxBlockSize) {
        return UsageError("dynamic VHD block size " + std::to_string(bs) + " is not a power of two in [512, 256 MiB]");
      }
      if ((size + bs - 1) / bs > 0xFFFFFFFEull) {
        return UsageError(out.path() + ": disk too large for a dynamic VHD with " + std::to_string(bs) +
                          "-byte blocks");
      }
      return std::unique_ptr<ImageWriter>(new VhdDynamicWriter(out, size, options));
    }
  }
  return UsageError("unknown container kind");
}

Result<WriterOptions> DefaultWriterOptions() {
  WriterOptions o;
  uint64_t now = static_cast<uint64_t>(std::time(nullptr));
  if (const char* sde = std::getenv("SOURCE_DATE_EPOCH"); sde != nullptr && *sde != '\0') {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(sde, &end, 10);
    if (errno != 0 || *end != '\0') return UsageError(std::string("SOURCE_DATE_EPOCH=") + sde + " is not a number");
    now = v;
  }
  o.timestamp = now > kVhdEpoch ? static_cast<uint32_t>(std::min<uint64_t>(now - kVhdEpoch, UINT32_MAX)) : 0;
  size_t got = 0;
  while (got < o.unique_id.size()) {
    ssize_t n = ::getrandom(o.unique_id.data() + got, o.unique_id.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(n);
  }
  o.unique_id[6] = static_cast<uint8_t>((o.unique_id[6] & 0x0F) | 0x40);  // RFC 4122 version 4
  o.unique_id[8] = static_cast<uint8_t>((o.unique_id[8] & 0x3F) | 0x80);
  return o;
}

}  // namespace vhdcrypt
