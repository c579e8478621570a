#include "formats/vhd.h"

#include <algorithm>
#include <cstring>

#include "formats/endian.h"

namespace vhdcrypt::vhd {
namespace {

struct RawFooter {
  char cookie[8];
  ub32 features;
  ub32 version;
  ub64 data_offset;
  ub32 timestamp;
  char creator_app[4];
  ub32 creator_version;
  ub32 creator_host_os;
  ub64 original_size;
  ub64 current_size;
  ub16 cylinders;
  uint8_t heads;
  uint8_t sectors_per_track;
  ub32 disk_type;
  ub32 checksum;
  uint8_t unique_id[16];
  uint8_t saved_state;
  uint8_t reserved[427];
};
static_assert(sizeof(RawFooter) == kFooterSize);
constexpr size_t kFooterChecksumAt = 64;

struct RawDynamicHeader {
  char cookie[8];
  ub64 data_offset;
  ub64 table_offset;
  ub32 header_version;
  ub32 max_table_entries;
  ub32 block_size;
  ub32 checksum;
  uint8_t parent_unique_id[16];
  ub32 parent_timestamp;
  uint8_t reserved1[4];
  uint8_t parent_unicode_name[512];
  uint8_t parent_locators[8 * 24];
  uint8_t reserved2[256];
};
static_assert(sizeof(RawDynamicHeader) == kDynamicHeaderSize);
constexpr size_t kHeaderChecksumAt = 36;

constexpr char kFooterCookie[8] = {'c', 'o', 'n', 'e', 'c', 't', 'i', 'x'};
constexpr char kHeaderCookie[8] = {'c', 'x', 's', 'p', 'a', 'r', 's', 'e'};

uint64_t RoundUp(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// Two half-open byte ranges overlap.
bool Overlaps(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len) { return a < b + b_len && b < a + a_len; }

}  // namespace

Geometry GeometryForSize(uint64_t size_bytes) {
  uint64_t total = size_bytes / 512;
  const uint64_t kMax = 65535ull * 16 * 255;
  if (total > kMax) total = kMax;
  uint64_t spt, heads, cyl_times_heads;
  if (total >= 65535ull * 16 * 63) {
    spt = 255;
    heads = 16;
    cyl_times_heads = total / spt;
  } else {
    spt = 17;
    cyl_times_heads = total / spt;
    heads = (cyl_times_heads + 1023) / 1024;
    if (heads < 4) heads = 4;
    if (cyl_times_heads >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cyl_times_heads = total / spt;
    }
    if (cyl_times_heads >= heads * 1024) {
      spt = 63;
      heads = 16;
      cyl_times_heads = total / spt;
    }
  }
  Geometry g;
  g.cylinders = static_cast<uint16_t>(cyl_times_heads / heads);
  g.heads = static_cast<uint8_t>(heads);
  g.sectors_per_track = static_cast<uint8_t>(spt);
  return g;
}

uint32_t Checksum(std::span<const uint8_t> bytes, size_t at) {
  uint32_t sum = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i >= at && i < at + 4) continue;
    sum += bytes[i];
  }
  return ~sum;
}

uint64_t BitmapBytes(uint32_t block_size) { return RoundUp((uint64_t{block_size} / 512 + 7) / 8, 512); }

Result<Footer> DecodeFooter(std::span<const uint8_t, kFooterSize> bytes) {
  RawFooter raw;
  std::memcpy(&raw, bytes.data(), sizeof raw);
  if (std::memcmp(raw.cookie, kFooterCookie, 8) != 0) {
    return InvalidInput("footer: cookie is " + QuotedBytes(raw.cookie, 8) + " (expected \"conectix\")");
  }
  uint32_t computed = Checksum(bytes, kFooterChecksumAt);
  if (raw.checksum.Get() != computed) {
    return InvalidInput("footer: checksum " + Hex32(raw.checksum) + " does not match computed " + Hex32(computed));
  }
  Footer f;
  f.features = raw.features;
  f.version = raw.version;
  f.data_offset = raw.data_offset;
  f.timestamp = raw.timestamp;
  std::memcpy(f.creator_app.data(), raw.creator_app, 4);
  f.creator_version = raw.creator_version;
  f.creator_host_os = raw.creator_host_os;
  f.original_size = raw.original_size;
  f.current_size = raw.current_size;
  f.geometry = {raw.cylinders, raw.heads, raw.sectors_per_track};
  f.checksum = raw.checksum;
  std::memcpy(f.unique_id.data(), raw.unique_id, 16);
  f.saved_state = raw.saved_state;

  if (f.version != kVersion) {
    return InvalidInput("footer: file_format_version " + Hex32(f.version) + " (expected 0x00010000)");
  }
  uint32_t type = raw.disk_type;
  if (type == static_cast<uint32_t>(DiskType::kDifferencing)) {
    return InvalidInput(
        "footer: disk_type 4 (differencing) is not supported: a differencing VHD needs its parent; "
        "merge it first (e.g. qemu-img convert -f vpc -O vpc)");
  }
  if (type != static_cast<uint32_t>(DiskType::kFixed) && type != static_cast<uint32_t>(DiskType::kDynamic)) {
    return InvalidInput("footer: disk_type " + std::to_string(type) +
                        " is not a known type (expected 2 fixed or 3 dynamic)");
  }
  f.disk_type = static_cast<DiskType>(type);
  if (f.current_size == 0) return InvalidInput("footer: current_size is 0");
  if (f.current_size % 512 != 0) {
    return InvalidInput("footer: current_size " + std::to_string(f.current_size) + " is not a multiple of 512");
  }
  if (f.saved_state != 0) {
    return InvalidInput(
        "footer: saved_state is set (the disk belongs to a saved VM); "
        "shut the VM down cleanly first");
  }
  return f;
}

std::array<uint8_t, kFooterSize> EncodeFooter(const Footer& f) {
  RawFooter raw{};
  std::memcpy(raw.cookie, kFooterCookie, 8);
  raw.features = f.features;
  raw.version = f.version;
  raw.data_offset = f.data_offset;
  raw.timestamp = f.timestamp;
  std::memcpy(raw.creator_app, f.creator_app.data(), 4);
  raw.creator_version = f.creator_version;
  raw.creator_host_os = f.creator_host_os;
  raw.original_size = f.original_size;
  raw.current_size = f.current_size;
  raw.cylinders = f.geometry.cylinders;
  raw.heads = f.geometry.heads;
  raw.sectors_per_track = f.geometry.sectors_per_track;
  raw.disk_type = static_cast<uint32_t>(f.disk_type);
  std::memcpy(raw.unique_id, f.unique_id.data(), 16);
  raw.saved_state = f.saved_state;
  std::array<uint8_t, kFooterSize> out;
  std::memcpy(out.data(), &raw, sizeof raw);
  ub32 sum = Checksum(out, kFooterChecksumAt);
  std::memcpy(out.data() + kFooterChecksumAt, &sum, 4);
  return out;
}

Result<DynamicHeader> DecodeDynamicHeader(std::span<const uint8_t, kDynamicHeaderSize> bytes) {
  RawDynamicHeader raw;
  std::memcpy(&raw, bytes.data(), sizeof raw);
  if (std::memcmp(raw.cookie, kHeaderCookie, 8) != 0) {
    return InvalidInput("dynamic header: cookie is " + QuotedBytes(raw.cookie, 8) + " (expected \"cxsparse\")");
  }
  uint32_t computed = Checksum(bytes, kHeaderChecksumAt);
  if (raw.checksum.Get() != computed) {
    return InvalidInput("dynamic header: checksum " + Hex32(raw.checksum) + " does not match computed " +
                        Hex32(computed));
  }
  DynamicHeader h;
  h.data_offset = raw.data_offset;
  h.table_offset = raw.table_offset;
  h.header_version = raw.header_version;
  h.max_table_entries = raw.max_table_entries;
  h.block_size = raw.block_size;
  h.checksum = raw.checksum;
  std::memcpy(h.parent_unique_id.data(), raw.parent_unique_id, 16);
  h.parent_timestamp = raw.parent_timestamp;
  if (h.header_version != kVersion) {
    return InvalidInput("dynamic header: header_version " + Hex32(h.header_version) + " (expected 0x00010000)");
  }
  if (h.block_size == 0) return InvalidInput("dynamic header: block_size is 0");
  if (!IsPowerOfTwo(h.block_size) || h.block_size < 512) {
    return InvalidInput("dynamic header: block_size " + std::to_string(h.block_size) +
                        " is not a power of two of at least 512");
  }
  if (h.block_size > kMaxBlockSize) {
    return InvalidInput("dynamic header: block_size " + std::to_string(h.block_size) +
                        " exceeds the supported maximum " + std::to_string(kMaxBlockSize));
  }
  if (h.max_table_entries == 0) return InvalidInput("dynamic header: max_table_entries is 0");
  return h;
}

std::array<uint8_t, kDynamicHeaderSize> EncodeDynamicHeader(const DynamicHeader& h) {
  RawDynamicHeader raw{};
  std::memcpy(raw.cookie, kHeaderCookie, 8);
  raw.data_offset = h.data_offset;
  raw.table_offset = h.table_offset;
  raw.header_version = h.header_version;
  raw.max_table_entries = h.max_table_entries;
  raw.block_size = h.block_size;
  std::memcpy(raw.parent_unique_id, h.parent_unique_id.data(), 16);
  raw.parent_timestamp = h.parent_timestamp;
  std::array<uint8_t, kDynamicHeaderSize> out;
  std::memcpy(out.data(), &raw, sizeof raw);
  ub32 sum = Checksum(out, kHeaderChecksumAt);
  std::memcpy(out.data() + kHeaderChecksumAt, &sum, 4);
  return out;
}

// --- VhdImage ---------------------------------------------------------------

Result<std::unique_ptr<VhdImage>> VhdImage::Open(std::unique_ptr<File> file) {
  std::unique_ptr<VhdImage> img(new VhdImage(std::move(file)));
  const std::string& path = img->path();
  ASSIGN_OR_RETURN(uint64_t size, img->file_->Size());
  if (size < kFooterSize) {
    return InvalidInput(path + ": file is " + std::to_string(size) + " bytes, too small to hold a 512-byte VHD footer");
  }
  // A dynamic disk starts with a footer copy; a fixed disk starts with data.
  std::array<uint8_t, kFooterSize> head;
  RETURN_IF_ERROR(ReadFull(*img->file_, 0, head));
  if (std::memcmp(head.data(), kFooterCookie, 8) == 0) {
    RETURN_IF_ERROR(img->OpenDynamic(size));
  } else {
    RETURN_IF_ERROR(img->OpenFixed(size));
  }
  return img;
}

ContainerKind VhdImage::kind() const {
  return footer_.disk_type == DiskType::kDynamic ? ContainerKind::kVhdDynamic : ContainerKind::kVhdFixed;
}

namespace {

void AddSizeWarnings(const Footer& f, std::vector<std::string>& warnings) {
  std::string app(f.creator_app.data(), 4);
  if ((app == "vpc " || app == "qemu") && f.geometry.TotalSectors() * 512 != f.current_size) {
    warnings.push_back("creator \"" + app + "\": its CHS geometry gives " +
                       std::to_string(f.geometry.TotalSectors() * 512) + " bytes but current_size is " +
                       std::to_string(f.current_size) +
                       "; qemu reads this image as the smaller CHS size, vhdcrypt uses current_size");
  }
}

}  // namespace

Status VhdImage::OpenFixed(uint64_t file_size) {
  const uint64_t at = file_size - kFooterSize;
  const std::string where = path() + ": footer at offset " + FormatOffset(at);
  std::array<uint8_t, kFooterSize> bytes;
  RETURN_IF_ERROR(ReadFull(*file_, at, bytes));
  auto footer = DecodeFooter(bytes);
  if (!footer.ok()) {
    if (std::memcmp(bytes.data(), kFooterCookie, 8) != 0) {
      return InvalidInput(where +
                          ": not a VHD (cookie is not \"conectix\"); "
                          "a truncated file or a raw image? use --format raw for raw images");
    }
    return footer.error().Context(where);
  }
  footer_ = *footer;
  if (footer_.disk_type == DiskType::kDynamic) {
    return InvalidInput(where +
                        ": disk_type 3 (dynamic) but offset 0 holds no footer copy "
                        "(cookie is not \"conectix\"); the start of the file is damaged");
  }
  if (footer_.current_size != at) {
    return InvalidInput(where + ": current_size " + std::to_string(footer_.current_size) + " does not match the " +
                        std::to_string(at) + " bytes of data before the footer (fixed VHD)");
  }
  if (footer_.data_offset != kNoDataOffset) {
    warnings_.push_back("fixed VHD footer data_offset is " + FormatOffset(footer_.data_offset) +
                        " (expected 0xffffffffffffffff); ignored");
  }
  if (footer_.current_size % (1024 * 1024) != 0) {
    warnings_.push_back("virtual size " + std::to_string(footer_.current_size) +
                        " is not a whole number of MiB; Azure refuses such VHDs "
                        "(vhdcrypt convert --to vhd-fixed rounds up)");
  }
  AddSizeWarnings(footer_, warnings_);
  return {};
}

Status VhdImage::OpenDynamic(uint64_t file_size) {
  const uint64_t min_size = kFooterSize + kDynamicHeaderSize + 512 + kFooterSize;
  if (file_size < min_size) {
    return InvalidInput(path() + ": file is " + std::to_string(file_size) +
                        " bytes, too small for a dynamic VHD (at least " + std::to_string(min_size) + ")");
  }
  const uint64_t eof_at = file_size - kFooterSize;
  RETURN_IF_ERROR(ReadDynamicFooters(eof_at));
  const uint64_t hdr_at = footer_.data_offset;
  RETURN_IF_ERROR(ReadDynamicHeader(hdr_at, eof_at));
  const uint64_t bat_bytes = RoundUp(uint64_t{header_.max_table_entries} * 4, 512);
  RETURN_IF_ERROR(ReadBat(hdr_at, eof_at, bat_bytes));
  RETURN_IF_ERROR(CheckBlocks(hdr_at, eof_at, bat_bytes));
  AddSizeWarnings(footer_, warnings_);
  bitmap_.resize(BitmapBytes(header_.block_size));
  return {};
}

Status VhdImage::ReadDynamicFooters(uint64_t eof_at) {
  const std::string& p = path();
  std::array<uint8_t, kFooterSize> copy_bytes;
  RETURN_IF_ERROR(ReadFull(*file_, 0, copy_bytes));
  auto copy = DecodeFooter(copy_bytes);
  if (!copy.ok()) return copy.error().Context(p + ": footer copy at offset 0x0 (0)");
  footer_ = *copy;
  if (footer_.disk_type != DiskType::kDynamic) {
    return InvalidInput(p +
                        ": footer copy at offset 0x0 (0): disk_type 2 (fixed), but a fixed VHD "
                        "has no footer copy at offset 0");
  }
  const std::string eof_where = p + ": footer at offset " + FormatOffset(eof_at);
  std::array<uint8_t, kFooterSize> eof_bytes;
  RETURN_IF_ERROR(ReadFull(*file_, eof_at, eof_bytes));
  auto eof = DecodeFooter(eof_bytes);
  if (!eof.ok()) {
    const bool no_cookie = std::memcmp(eof_bytes.data(), kFooterCookie, 8) != 0;
    return eof.error().Context(eof_where + (no_cookie ? " (truncated file?)" : ""));
  }
  if (eof_bytes != copy_bytes) {
    return InvalidInput(eof_where +
                        ": differs from the footer copy at offset 0 "
                        "(current_size " +
                        std::to_string(eof->current_size) + " vs " + std::to_string(footer_.current_size) + ")");
  }
  return {};
}

Status VhdImage::ReadDynamicHeader(uint64_t hdr_at, uint64_t eof_at) {
  const std::string& p = path();
  const std::string hdr_where = p + ": dynamic header at offset " + FormatOffset(hdr_at);
  if (hdr_at < kFooterSize || hdr_at > eof_at || eof_at - hdr_at < kDynamicHeaderSize) {
    return InvalidInput(p + ": footer: data_offset " + FormatOffset(hdr_at) +
                        " does not leave room for the 1024-byte dynamic header between offset 512 and "
                        "the footer at " +
                        FormatOffset(eof_at));
  }
  std::array<uint8_t, kDynamicHeaderSize> hdr_bytes;
  RETURN_IF_ERROR(ReadFull(*file_, hdr_at, hdr_bytes));
  auto hdr = DecodeDynamicHeader(hdr_bytes);
  if (!hdr.ok()) return hdr.error().Context(hdr_where);
  header_ = *hdr;
  const uint64_t bs = header_.block_size;
  const uint64_t needed = (footer_.current_size + bs - 1) / bs;
  if (header_.max_table_entries < needed) {
    return InvalidInput(hdr_where + ": max_table_entries " + std::to_string(header_.max_table_entries) +
                        " is too small for current_size " + std::to_string(footer_.current_size) + " (needs " +
                        std::to_string(needed) + " blocks of " + std::to_string(bs) + ")");
  }
  return {};
}

Status VhdImage::ReadBat(uint64_t hdr_at, uint64_t eof_at, uint64_t bat_bytes) {
  const std::string hdr_where = path() + ": dynamic header at offset " + FormatOffset(hdr_at);
  const uint64_t bat_at = header_.table_offset;
  if (bat_at % 512 != 0) {
    return InvalidInput(hdr_where + ": table_offset " + FormatOffset(bat_at) + " is not a multiple of 512");
  }
  if (bat_at < kFooterSize || bat_at > eof_at || eof_at - bat_at < bat_bytes) {
    return InvalidInput(hdr_where + ": table_offset " + FormatOffset(bat_at) + " with max_table_entries " +
                        std::to_string(header_.max_table_entries) + " (" + std::to_string(bat_bytes) +
                        " bytes) does not fit between offset 512 and the footer at " + FormatOffset(eof_at));
  }
  if (Overlaps(bat_at, bat_bytes, hdr_at, kDynamicHeaderSize)) {
    return InvalidInput(hdr_where + ": table_offset " + FormatOffset(bat_at) + ": the BAT overlaps the dynamic header");
  }
  std::vector<uint8_t> raw_bat(bat_bytes);
  RETURN_IF_ERROR(ReadFull(*file_, bat_at, raw_bat));
  bat_.resize(header_.max_table_entries);
  for (size_t i = 0; i < bat_.size(); ++i) {
    ub32 v;
    std::memcpy(&v, raw_bat.data() + 4 * i, 4);
    bat_[i] = v;
  }
  return {};
}

Status VhdImage::CheckBlocks(uint64_t hdr_at, uint64_t eof_at, uint64_t bat_bytes) const {
  const std::string& p = path();
  const uint64_t bat_at = header_.table_offset;
  const uint64_t block_bytes = BitmapBytes(header_.block_size) + header_.block_size;
  std::vector<std::pair<uint64_t, uint32_t>> blocks;  // (file offset, BAT index)
  for (uint32_t i = 0; i < bat_.size(); ++i) {
    if (bat_[i] == kUnallocated) continue;
    const uint64_t off = uint64_t{bat_[i]} * 512;
    const std::string entry = p + ": BAT entry " + std::to_string(i) + " (sector " + std::to_string(bat_[i]) +
                              ", offset " + FormatOffset(off) + ")";
    if (off > eof_at || eof_at - off < block_bytes) {
      return InvalidInput(entry + ": block of " + std::to_string(block_bytes) + " bytes runs past the footer at " +
                          FormatOffset(eof_at));
    }
    if (Overlaps(off, block_bytes, 0, kFooterSize) || Overlaps(off, block_bytes, hdr_at, kDynamicHeaderSize) ||
        Overlaps(off, block_bytes, bat_at, bat_bytes)) {
      return InvalidInput(entry + ": block overlaps VHD metadata (footer copy, dynamic header or BAT)");
    }
    blocks.emplace_back(off, i);
  }
  std::sort(blocks.begin(), blocks.end());
  for (size_t k = 1; k < blocks.size(); ++k) {
    if (blocks[k].first < blocks[k - 1].first + block_bytes) {
      return InvalidInput(p + ": BAT entry " + std::to_string(blocks[k].second) + " (offset " +
                          FormatOffset(blocks[k].first) + ") overlaps the block of BAT entry " +
                          std::to_string(blocks[k - 1].second) + " (offset " + FormatOffset(blocks[k - 1].first) + ")");
    }
  }
  return {};
}

uint64_t VhdImage::AllocatedBlocks() const {
  return static_cast<uint64_t>(std::count_if(bat_.begin(), bat_.end(), [](uint32_t e) { return e != kUnallocated; }));
}

Status VhdImage::ReadAt(uint64_t offset, std::span<uint8_t> buf) {
  RETURN_IF_ERROR(CheckVirtualRange(path(), footer_.current_size, offset, buf.size()));
  if (footer_.disk_type == DiskType::kFixed) return ReadFull(*file_, offset, buf);
  const uint64_t bs = header_.block_size;
  size_t done = 0;
  while (done < buf.size()) {
    const uint64_t pos = offset + done;
    const uint64_t block = pos / bs;
    const uint64_t in_block = pos % bs;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bs - in_block, buf.size() - done));
    RETURN_IF_ERROR(ReadBlock(block, in_block, buf.subspan(done, n)));
    done += n;
  }
  return {};
}

Status VhdImage::ReadBlock(uint64_t block, uint64_t in_block, std::span<uint8_t> buf) {
  if (bat_[block] == kUnallocated) {
    std::fill(buf.begin(), buf.end(), 0);
    return {};
  }
  const uint64_t block_at = uint64_t{bat_[block]} * 512;
  const uint64_t data_at = block_at + bitmap_.size();
  if (cached_bitmap_block_ != block) {
    cached_bitmap_block_ = UINT64_MAX;
    RETURN_IF_ERROR(ReadFull(*file_, block_at, bitmap_));
    cached_bitmap_block_ = block;
  }
  auto sector_present = [&](uint64_t s) { return (bitmap_[s / 8] >> (7 - s % 8)) & 1; };
  // Runs of sectors with the same bitmap bit are read (or zeroed) in one go.
  size_t done = 0;
  while (done < buf.size()) {
    const uint64_t pos = in_block + done;
    const uint64_t sector = pos / 512;
    const bool present = sector_present(sector);
    uint64_t run_end = (sector + 1) * 512;
    while (run_end < in_block + buf.size() && sector_present(run_end / 512) == present) run_end += 512;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(run_end, in_block + buf.size()) - pos);
    auto part = buf.subspan(done, n);
    if (present) {
      RETURN_IF_ERROR(ReadFull(*file_, data_at + pos, part));
    } else {
      std::fill(part.begin(), part.end(), 0);
    }
    done += n;
  }
  return {};
}

Result<std::vector<Extent>> VhdImage::AllocatedExtents() {
  if (footer_.disk_type == DiskType::kFixed) return file_->DataExtents(0, footer_.current_size);
  std::vector<Extent> out;
  const uint64_t bs = header_.block_size;
  const uint64_t blocks = (footer_.current_size + bs - 1) / bs;
  for (uint64_t b = 0; b < blocks; ++b) {
    if (bat_[b] == kUnallocated) continue;
    const uint64_t start = b * bs;
    const uint64_t len = std::min(bs, footer_.current_size - start);
    if (!out.empty() && out.back().end() == start) {
      out.back().length += len;
    } else {
      out.push_back({start, len});
    }
  }
  return out;
}

}  // namespace vhdcrypt::vhd
