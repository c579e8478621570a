#include "src/plan/fs_probe.h"

#include <array>
#include <cstring>

#include "formats/endian.h"

namespace vhdcrypt {
namespace {

// ext2/3/4 superblock at byte 1024: s_log_block_size at +24 (LE32), s_magic
// 0xEF53 at +56 (LE16). XFS superblock at byte 0: "XFSB", sb_blocksize at +4
// (BE32), sb_sectsize at +102 (BE16).
constexpr uint64_t kExtSuperblock = 1024;
constexpr uint16_t kExtMagic = 0xEF53;

std::string UuidText(const uint8_t* p) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

// ext4 sets one of these incompatible features (extents, 64bit, flex_bg);
// ext3 is ext2 with a journal.
constexpr uint32_t kExt4Incompat = 0x40 | 0x80 | 0x200;
constexpr uint32_t kExtCompatHasJournal = 0x4;

}  // namespace

Result<FsProbe> ProbeFilesystem(Image& disk, uint64_t offset, uint64_t size) {
  FsProbe probe;
  std::array<uint8_t, 2048> buf{};
  if (size < buf.size()) return probe;
  RETURN_IF_ERROR(disk.ReadAt(offset, buf));
  if (std::memcmp(buf.data(), "XFSB", 4) == 0) {
    probe.type = "xfs";
    probe.uuid = UuidText(buf.data() + 32);
    const uint16_t sect = LoadField<ub16>(buf.data() + 102);
    probe.min_io = sect >= 512 && IsPowerOfTwo(sect) ? sect : 512;
    return probe;
  }
  const uint8_t* sb = buf.data() + kExtSuperblock;
  if (LoadField<ul16>(sb + 56) == kExtMagic) {
    const uint32_t log = LoadField<ul32>(sb + 24);
    const uint32_t compat = LoadField<ul32>(sb + 92), incompat = LoadField<ul32>(sb + 96);
    probe.type = (incompat & kExt4Incompat) ? "ext4" : (compat & kExtCompatHasJournal) ? "ext3" : "ext2";
    probe.uuid = UuidText(sb + 104);
    probe.min_io = log <= 6 ? 1024u << log : 512;  // 1 KiB .. 64 KiB blocks
    return probe;
  }
  return probe;
}

uint32_t ChooseSectorSize(const FsProbe& fs, uint64_t volume_size) {
  return fs.min_io >= 4096 && volume_size % 4096 == 0 ? 4096 : 512;
}

}  // namespace vhdcrypt
