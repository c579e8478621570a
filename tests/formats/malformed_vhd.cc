// Generators for malformed VHDs. Each starts from a valid image, breaks one
// thing and re-seals checksums where needed so the parser reaches the check
// under test rather than stopping at an earlier checksum.
#include <cstring>
#include <functional>

#include "formats/io.h"
#include "formats/vhd.h"
#include "formats/writer.h"
#include "tests/formats/malformed_case.h"

namespace vhdcrypt::testing {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint64_t kMiB = 1024 * 1024;

Bytes Build(ContainerKind kind, uint64_t size, const std::vector<uint64_t>& blocks_to_fill) {
  MemFile f("gen");
  WriterOptions o;
  o.timestamp = 12345;
  for (int i = 0; i < 16; ++i) o.unique_id[i] = static_cast<uint8_t>(i);
  auto w = MakeWriter(kind, f, size, o);
  for (uint64_t b : blocks_to_fill) {
    Bytes data(2 * kMiB);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>((i * 7 + b) | 1);
    (void)(*w)->Write(b * 2 * kMiB, data);
  }
  (void)(*w)->Finish();
  return f.data();
}

void PutBe32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void PutBe64(Bytes& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}
uint32_t GetBe32(const Bytes& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

void SealFooter(Bytes& b, size_t at) { PutBe32(b, at + 64, vhd::Checksum(std::span(b).subspan(at, 512), 64)); }
void SealHeader(Bytes& b, size_t at) { PutBe32(b, at + 36, vhd::Checksum(std::span(b).subspan(at, 1024), 36)); }

// Footer field offsets (see vhd.cc).
constexpr size_t kFeatures = 8, kVersion = 12, kDataOffset = 16, kCurrentSize = 48, kDiskType = 60, kChecksum = 64,
                 kSavedState = 84;
// Dynamic header field offsets.
constexpr size_t kTableOffset = 16, kHdrVersion = 24, kMaxEntries = 28, kBlockSize = 32, kHdrChecksum = 36;
constexpr size_t kHdr = 512, kBat = 1536;

// Applies `edit` to the fixed VHD's footer (at EOF) and re-seals it.
Bytes FixedWith(const std::function<void(Bytes&, size_t)>& edit, bool seal = true) {
  Bytes b = ValidFixedVhd();
  size_t at = b.size() - 512;
  edit(b, at);
  if (seal) SealFooter(b, at);
  return b;
}

// Applies `edit` to both footers of the dynamic VHD and re-seals them.
Bytes DynamicFooters(const std::function<void(Bytes&, size_t)>& edit) {
  Bytes b = ValidDynamicVhd();
  for (size_t at : {size_t{0}, b.size() - 512}) {
    edit(b, at);
    SealFooter(b, at);
  }
  return b;
}

Bytes DynamicHeaderWith(const std::function<void(Bytes&)>& edit, bool seal = true) {
  Bytes b = ValidDynamicVhd();
  edit(b);
  if (seal) SealHeader(b, kHdr);
  return b;
}

Bytes DynamicBat(const std::function<void(Bytes&)>& edit) {
  Bytes b = ValidDynamicVhd();
  edit(b);
  return b;
}

}  // namespace

// Built once: every generator starts from a copy.
Bytes ValidFixedVhd() {
  static const Bytes base = Build(ContainerKind::kVhdFixed, 4 * kMiB, {0});
  return base;
}
Bytes ValidDynamicVhd() {
  static const Bytes base = Build(ContainerKind::kVhdDynamic, 8 * kMiB, {0, 2});
  return base;
}

std::vector<MalformedCase> MalformedVhdCases() {
  const auto V = FormatHint::kVhd;
  const auto A = FormatHint::kAuto;
  std::vector<MalformedCase> c;

  // --- fixed VHD footer ---
  c.push_back({"fixed-bad-cookie", FixedWith([](Bytes& b, size_t at) { b[at] = 'X'; }), "cookie", V});
  c.push_back(
      {"fixed-bad-checksum", FixedWith([](Bytes& b, size_t at) { b[at + kChecksum] ^= 1; }, false), "checksum", A});
  c.push_back({"fixed-checksum-zeroed", FixedWith([](Bytes& b, size_t at) { PutBe32(b, at + kChecksum, 0); }, false),
               "checksum", A});
  c.push_back({"fixed-bad-version", FixedWith([](Bytes& b, size_t at) { PutBe32(b, at + kVersion, 0x00020000); }),
               "file_format_version", A});
  c.push_back({"fixed-unknown-disk-type", FixedWith([](Bytes& b, size_t at) { PutBe32(b, at + kDiskType, 7); }),
               "disk_type 7", A});
  c.push_back({"fixed-disk-type-none", FixedWith([](Bytes& b, size_t at) { PutBe32(b, at + kDiskType, 0); }),
               "disk_type 0", A});
  c.push_back(
      {"fixed-differencing", FixedWith([](Bytes& b, size_t at) { PutBe32(b, at + kDiskType, 4); }), "differencing", A});
  c.push_back({"fixed-size-larger-than-data",
               FixedWith([](Bytes& b, size_t at) { PutBe64(b, at + kCurrentSize, 8 * kMiB); }), "current_size", A});
  c.push_back({"fixed-size-smaller-than-data",
               FixedWith([](Bytes& b, size_t at) { PutBe64(b, at + kCurrentSize, 2 * kMiB); }), "current_size", A});
  c.push_back({"fixed-size-not-sector-multiple",
               FixedWith([](Bytes& b, size_t at) { PutBe64(b, at + kCurrentSize, 4 * kMiB - 100); }),
               "not a multiple of 512", A});
  c.push_back({"fixed-size-zero", FixedWith([](Bytes& b, size_t at) { PutBe64(b, at + kCurrentSize, 0); }),
               "current_size is 0", A});
  c.push_back({"fixed-saved-state", FixedWith([](Bytes& b, size_t at) { b[at + kSavedState] = 1; }), "saved_state", A});
  c.push_back({"fixed-says-dynamic-without-copy", FixedWith([](Bytes& b, size_t at) { PutBe32(b, at + kDiskType, 3); }),
               "no footer copy", A});
  {
    Bytes b = ValidFixedVhd();
    b.resize(b.size() - 100);
    b.resize(b.size() / 512 * 512);  // keep it sector-sized so only the cookie is wrong
    c.push_back({"fixed-truncated", b, "cookie", V});
  }
  c.push_back({"vhd-too-small", Bytes(100, 0), "too small", V});
  c.push_back({"vhd-empty", Bytes(), "too small", V});

  // --- dynamic VHD footers ---
  {
    Bytes b = ValidDynamicVhd();
    b[0] = 'X';
    c.push_back({"dynamic-copy-bad-cookie", b, "no footer copy", A});
  }
  {
    Bytes b = ValidDynamicVhd();
    b[kFeatures] ^= 0x10;
    c.push_back({"dynamic-copy-bad-checksum", b, "checksum", A});
  }
  {
    Bytes b = ValidDynamicVhd();
    b.resize(b.size() - 512);
    c.push_back({"dynamic-eof-footer-missing", b, "cookie", A});
  }
  {
    Bytes b = ValidDynamicVhd();
    b[b.size() - 512 + kCurrentSize + 7] ^= 2;
    c.push_back({"dynamic-eof-footer-bad-checksum", b, "checksum", A});
  }
  {
    Bytes b = ValidDynamicVhd();
    size_t at = b.size() - 512;
    PutBe64(b, at + kCurrentSize, 6 * kMiB);
    SealFooter(b, at);
    c.push_back({"dynamic-footers-differ", b, "differs from the footer copy", A});
  }
  c.push_back({"dynamic-copy-says-fixed", DynamicFooters([](Bytes& b, size_t at) { PutBe32(b, at + kDiskType, 2); }),
               "disk_type 2", A});
  c.push_back({"dynamic-differencing", DynamicFooters([](Bytes& b, size_t at) { PutBe32(b, at + kDiskType, 4); }),
               "differencing", A});
  c.push_back({"dynamic-bad-version",
               DynamicFooters([](Bytes& b, size_t at) { PutBe32(b, at + kVersion, 0x00000001); }),
               "file_format_version", A});
  c.push_back({"dynamic-size-not-sector-multiple",
               DynamicFooters([](Bytes& b, size_t at) { PutBe64(b, at + kCurrentSize, 8 * kMiB + 1); }), "current_size",
               A});
  c.push_back({"dynamic-size-zero", DynamicFooters([](Bytes& b, size_t at) { PutBe64(b, at + kCurrentSize, 0); }),
               "current_size is 0", A});
  c.push_back({"dynamic-data-offset-zero", DynamicFooters([](Bytes& b, size_t at) { PutBe64(b, at + kDataOffset, 0); }),
               "data_offset", A});
  c.push_back({"dynamic-data-offset-inside-copy",
               DynamicFooters([](Bytes& b, size_t at) { PutBe64(b, at + kDataOffset, 256); }), "data_offset", A});
  c.push_back({"dynamic-data-offset-past-eof",
               DynamicFooters([](Bytes& b, size_t at) { PutBe64(b, at + kDataOffset, uint64_t{1} << 40); }),
               "data_offset", A});
  c.push_back({"dynamic-data-offset-all-ones",
               DynamicFooters([](Bytes& b, size_t at) { PutBe64(b, at + kDataOffset, ~uint64_t{0}); }), "data_offset",
               A});
  {
    Bytes b = ValidDynamicVhd();
    b.resize(1024);
    c.push_back({"dynamic-too-small", b, "too small for a dynamic VHD", A});
  }

  // --- dynamic header ---
  c.push_back({"header-bad-cookie", DynamicHeaderWith([](Bytes& b) { b[kHdr + 2] = 'S'; }), "cxsparse", A});
  c.push_back({"header-bad-checksum", DynamicHeaderWith([](Bytes& b) { b[kHdr + kHdrChecksum] ^= 0x80; }, false),
               "dynamic header: checksum", A});
  c.push_back({"header-bad-version", DynamicHeaderWith([](Bytes& b) { PutBe32(b, kHdr + kHdrVersion, 0x00010001); }),
               "header_version", A});
  c.push_back(
      {"block-size-zero", DynamicHeaderWith([](Bytes& b) { PutBe32(b, kHdr + kBlockSize, 0); }), "block_size is 0", A});
  c.push_back({"block-size-not-power-of-two",
               DynamicHeaderWith([](Bytes& b) { PutBe32(b, kHdr + kBlockSize, 3 * kMiB); }), "block_size", A});
  c.push_back({"block-size-below-sector", DynamicHeaderWith([](Bytes& b) { PutBe32(b, kHdr + kBlockSize, 256); }),
               "block_size 256", A});
  c.push_back({"block-size-huge", DynamicHeaderWith([](Bytes& b) { PutBe32(b, kHdr + kBlockSize, 1u << 31); }),
               "exceeds the supported maximum", A});
  c.push_back({"max-entries-zero", DynamicHeaderWith([](Bytes& b) { PutBe32(b, kHdr + kMaxEntries, 0); }),
               "max_table_entries is 0", A});
  c.push_back({"max-entries-too-small", DynamicHeaderWith([](Bytes& b) { PutBe32(b, kHdr + kMaxEntries, 1); }),
               "max_table_entries 1 is too small", A});
  c.push_back({"max-entries-overflow", DynamicHeaderWith([](Bytes& b) { PutBe32(b, kHdr + kMaxEntries, 0xFFFFFFFF); }),
               "max_table_entries", A});
  c.push_back({"table-offset-unaligned", DynamicHeaderWith([](Bytes& b) { PutBe64(b, kHdr + kTableOffset, kBat + 4); }),
               "not a multiple of 512", A});
  c.push_back({"table-offset-past-eof",
               DynamicHeaderWith([](Bytes& b) { PutBe64(b, kHdr + kTableOffset, uint64_t{1} << 50); }), "table_offset",
               A});
  c.push_back({"table-offset-zero", DynamicHeaderWith([](Bytes& b) { PutBe64(b, kHdr + kTableOffset, 0); }),
               "table_offset", A});
  c.push_back({"table-overlaps-header",
               DynamicHeaderWith([](Bytes& b) { PutBe64(b, kHdr + kTableOffset, kHdr + 512); }),
               "overlaps the dynamic header", A});

  // --- BAT ---
  c.push_back(
      {"bat-entry-past-eof", DynamicBat([](Bytes& b) { PutBe32(b, kBat + 4 * 1, 0x00FFFFFF); }), "BAT entry 1", A});
  c.push_back({"bat-entry-into-footer-copy", DynamicBat([](Bytes& b) { PutBe32(b, kBat, 0); }), "metadata", A});
  c.push_back({"bat-entry-into-header", DynamicBat([](Bytes& b) { PutBe32(b, kBat, 1); }), "metadata", A});
  c.push_back({"bat-entry-into-bat", DynamicBat([](Bytes& b) { PutBe32(b, kBat + 4, 3); }), "metadata", A});
  c.push_back({"bat-entries-overlap", DynamicBat([](Bytes& b) { PutBe32(b, kBat + 8, GetBe32(b, kBat) + 1); }),
               "overlaps the block of BAT entry", A});
  c.push_back({"bat-entries-identical", DynamicBat([](Bytes& b) { PutBe32(b, kBat + 8, GetBe32(b, kBat)); }),
               "overlaps the block of BAT entry", A});
  c.push_back({"bat-entry-into-eof-footer",
               DynamicBat([](Bytes& b) { PutBe32(b, kBat + 4, static_cast<uint32_t>(b.size() / 512 - 1)); }),
               "runs past the footer", A});
  {
    // A block cut short: drop 1 MiB before the footer.
    Bytes b = ValidDynamicVhd();
    Bytes footer(b.end() - 512, b.end());
    b.resize(b.size() - 512 - kMiB);
    b.insert(b.end(), footer.begin(), footer.end());
    c.push_back({"dynamic-block-truncated", b, "runs past the footer", A});
  }

  // --- raw container ---
  c.push_back({"raw-not-sector-multiple", Bytes(1000, 0), "not a multiple of 512", FormatHint::kRaw});
  return c;
}

}  // namespace vhdcrypt::testing
