// XFS v4 and v5, read by our own code (no library reads XFS metadata from a
// file without a kernel): the superblock, each allocation group's AGF and its
// free-space b-tree by block number. Every block that b-tree does not list as
// free is used: AG headers, the free list, inode chunks, every b-tree, the
// internal log and all data. The log must end in an unmount record, as
// xfs_repair -n requires; otherwise the b-trees may not say what the
// filesystem holds.
//
// Every field used is checked against the volume and the AG before it is
// used: reads stay inside the filesystem, b-tree levels strictly descend, a
// walk visits at most one block per block of its AG, and the free blocks it
// finds must add up to what the AGF says.
#include "src/fsmap/mappers.h"

#include <algorithm>
#include <array>
#include <bit>
#include <vector>

#include "formats/endian.h"

namespace vhdcrypt::fsmap_internal {
namespace {

constexpr uint32_t kSbMagic = 0x58465342;     // "XFSB"
constexpr uint32_t kAgfMagic = 0x58414746;    // "XAGF"
constexpr uint32_t kBnoMagicV4 = 0x41425442;  // "ABTB"
constexpr uint32_t kBnoMagicV5 = 0x41423342;  // "AB3B"
constexpr uint32_t kLogMagic = 0xFEEDBABE;
constexpr uint32_t kMaxLevels = 9;  // XFS_BTREE_MAXLEVELS
constexpr uint64_t kBB = 512;       // the log's basic block

// v5 feature bits vhdcrypt knows; any other bit is refused.
constexpr uint32_t kIncompatKnown = 0x1 | 0x2 | 0x4 | 0x8 | 0x20;  // ftype, spinodes, meta_uuid, bigtime, nrext64
constexpr uint32_t kIncompatNeedsRepair = 0x10;
constexpr uint32_t kRoCompatKnown = 0x1 | 0x2 | 0x4 | 0x8;  // finobt, rmapbt, reflink, inobtcount

uint16_t Be16(const uint8_t* p) { return LoadField<ub16>(p); }
uint32_t Be32(const uint8_t* p) { return LoadField<ub32>(p); }
uint64_t Be64(const uint8_t* p) { return LoadField<ub64>(p); }

struct Super {
  bool v5 = false;
  uint32_t block_size = 0, sect_size = 0, ag_blocks = 0, ag_count = 0, ag_blk_log = 0, log_blocks = 0;
  uint64_t dblocks = 0, log_start = 0;  // log_start: linear block number
};

class Xfs {
 public:
  Xfs(Image& disk, uint64_t offset, uint64_t size, std::string who)
      : disk_(disk), offset_(offset), size_(size), who_(std::move(who)) {}

  Result<UsedBlocks> Map() {
    RETURN_IF_ERROR(ReadSuper());
    RETURN_IF_ERROR(CheckLogIsClean());
    UsedBlocks map;
    map.block_size = sb_.block_size;
    map.fs_bytes = sb_.dblocks * sb_.block_size;
    for (uint32_t ag = 0; ag < sb_.ag_count; ++ag) RETURN_IF_ERROR(MapAg(ag, map));
    return map;
  }

 private:
  Error Bad(const std::string& what) const { return InvalidInput(who_ + ": XFS: " + what); }

  Status Read(uint64_t at, std::span<uint8_t> buf) {
    if (at > size_ || buf.size() > size_ - at)
      return Bad("metadata at byte " + std::to_string(at) + " lies past its volume");
    return disk_.ReadAt(offset_ + at, buf);
  }

  Status ReadSuper() {
    std::array<uint8_t, 512> b{};
    RETURN_IF_ERROR(Read(0, b));
    const uint8_t* p = b.data();
    if (Be32(p) != kSbMagic) return Bad("no superblock");
    const uint16_t version = Be16(p + 100) & 0xF;
    if (version != 4 && version != 5) return Bad("superblock version " + std::to_string(version) + " (4 or 5 mapped)");
    sb_.v5 = version == 5;
    sb_.block_size = Be32(p + 4);
    sb_.dblocks = Be64(p + 8);
    sb_.log_start = Be64(p + 48);
    sb_.ag_blocks = Be32(p + 84);
    sb_.ag_count = Be32(p + 88);
    sb_.log_blocks = Be32(p + 96);
    sb_.sect_size = Be16(p + 102);
    sb_.ag_blk_log = p[124];
    const uint64_t rblocks = Be64(p + 16);
    const uint8_t in_progress = p[126];
    const auto& bs = sb_.block_size;
    if (!std::has_single_bit(bs) || bs < 512 || bs > 65536 || p[120] != std::countr_zero(bs)) {
      return Bad("block size " + std::to_string(bs) + " is not 512 bytes to 64 KiB");
    }
    if (!std::has_single_bit(sb_.sect_size) || sb_.sect_size < 512 || sb_.sect_size > bs) {
      return Bad("sector size " + std::to_string(sb_.sect_size));
    }
    if (sb_.ag_count == 0 || sb_.ag_blocks < 16 || sb_.ag_blk_log > 31 ||
        sb_.ag_blk_log != std::bit_width(sb_.ag_blocks - 1)) {
      return Bad("allocation groups: " + std::to_string(sb_.ag_count) + " of " + std::to_string(sb_.ag_blocks) +
                 " blocks");
    }
    const uint64_t full = uint64_t{sb_.ag_blocks} * sb_.ag_count;
    if (sb_.dblocks > full || sb_.dblocks <= full - sb_.ag_blocks) {
      return Bad(std::to_string(sb_.dblocks) + " blocks do not fill its " + std::to_string(sb_.ag_count) +
                 " allocation groups");
    }
    if (sb_.dblocks > size_ / bs) {
      return Bad("the filesystem claims " + std::to_string(sb_.dblocks) + " blocks of " + std::to_string(bs) +
                 " bytes, more than its volume of " + std::to_string(size_) + " bytes holds");
    }
    if (in_progress != 0) return Bad("mkfs.xfs did not finish making it");
    if (rblocks != 0) return Bad("it has a realtime section: its used blocks are not mapped");
    if (sb_.v5) {
      const uint32_t ro_compat = Be32(p + 212), incompat = Be32(p + 216), log_incompat = Be32(p + 220);
      if (incompat & kIncompatNeedsRepair) return Bad("it is marked as needing xfs_repair");
      if (incompat & ~kIncompatKnown) return Bad("incompatible features " + std::to_string(incompat) + " unknown");
      if (ro_compat & ~kRoCompatKnown) return Bad("read-only features " + std::to_string(ro_compat) + " unknown");
      if (log_incompat != 0) return Bad("its log needs recovery (it was not cleanly unmounted)");
    }
    // The log: internal, in one AG (log_start is an AG-encoded block number).
    if (sb_.log_start == 0) return Bad("its log is on another device: vhdcrypt cannot tell whether it is clean");
    const uint64_t log_ag = sb_.log_start >> sb_.ag_blk_log, log_agbno = sb_.log_start & ((1ull << sb_.ag_blk_log) - 1);
    if (log_ag >= sb_.ag_count || sb_.log_blocks == 0 || log_agbno + sb_.log_blocks > AgLength(uint32_t(log_ag))) {
      return Bad("its log (" + std::to_string(sb_.log_blocks) + " blocks at " + std::to_string(sb_.log_start) +
                 ") lies outside its allocation group");
    }
    sb_.log_start = log_ag * sb_.ag_blocks + log_agbno;
    return {};
  }

  uint64_t AgLength(uint32_t ag) const {
    return ag + 1 < sb_.ag_count ? sb_.ag_blocks : sb_.dblocks - uint64_t{sb_.ag_blocks} * ag;
  }

  // The log's basic block i (of 512 bytes): its cycle number, read as the
  // kernel does (a record header carries it after its magic).
  Result<uint32_t> Cycle(uint64_t i, std::array<uint8_t, kBB>& b) {
    RETURN_IF_ERROR(Read(sb_.log_start * sb_.block_size + i * kBB, b));
    return Be32(b.data()) == kLogMagic ? Be32(b.data() + 4) : Be32(b.data());
  }

  // Clean means: the last record written, the one just before the log's head,
  // is a single unmount operation that ends at the head.
  Status CheckLogIsClean() {
    const uint64_t n = uint64_t{sb_.log_blocks} * sb_.block_size / kBB;
    std::array<uint8_t, kBB> b{};
    ASSIGN_OR_RETURN(const uint32_t first, Cycle(0, b));
    ASSIGN_OR_RETURN(const uint32_t last, Cycle(n - 1, b));
    // The head: where the cycle number drops from first to last (the log's
    // end when it does not), by bisection as the kernel finds it.
    uint64_t head = 0;
    if (first != last) {
      uint64_t lo = 0, hi = n - 1;  // cycle(lo) == first, cycle(hi) == last
      while (hi - lo > 1) {
        const uint64_t mid = lo + (hi - lo) / 2;
        ASSIGN_OR_RETURN(const uint32_t c, Cycle(mid, b));
        (c == last ? hi : lo) = mid;
      }
      head = hi;
    }
    // The last record header before the head, at most one largest record
    // (256 KiB of data, 8 header blocks) back.
    const uint64_t window = std::min<uint64_t>(n, 256 * 1024 / kBB + 16);
    for (uint64_t back = 1; back <= window; ++back) {
      const uint64_t at = (head + n - back) % n;
      RETURN_IF_ERROR(Read(sb_.log_start * sb_.block_size + at * kBB, b));
      if (Be32(b.data()) != kLogMagic) continue;
      const uint32_t version = Be32(b.data() + 8), len = Be32(b.data() + 12), ops = Be32(b.data() + 40);
      const uint32_t rec_size = Be32(b.data() + 320);
      uint64_t header_blocks = 1;
      if ((version & 2) && rec_size > 32768) header_blocks = (uint64_t{rec_size} + 32767) / 32768;
      const uint64_t end = (at + header_blocks + (uint64_t{len} + kBB - 1) / kBB) % n;
      if (end != head % n || ops != 1) break;
      RETURN_IF_ERROR(Read(sb_.log_start * sb_.block_size + ((at + header_blocks) % n) * kBB, b));
      constexpr uint8_t kUnmountTrans = 0x20;
      if (b[9] & kUnmountTrans) return {};
      break;
    }
    return Bad(
        "its log does not end in an unmount record (it was not cleanly unmounted; mount and unmount it, "
        "or run xfs_repair)");
  }

  // The free extents of one AG from its by-block-number b-tree, added to the
  // map as the used runs between them.
  Status MapAg(uint32_t ag, UsedBlocks& map) {
    const uint64_t ag_start = uint64_t{ag} * sb_.ag_blocks, length = AgLength(ag);
    const std::string where = "allocation group " + std::to_string(ag);
    std::vector<uint8_t> agf(sb_.sect_size);
    RETURN_IF_ERROR(Read(ag_start * sb_.block_size + sb_.sect_size, agf));
    const uint8_t* p = agf.data();
    if (Be32(p) != kAgfMagic || Be32(p + 4) != 1 || Be32(p + 8) != ag) return Bad(where + ": no AGF header");
    if (Be32(p + 12) != length) return Bad(where + ": its AGF says " + std::to_string(Be32(p + 12)) + " blocks");
    const uint32_t root = Be32(p + 16), levels = Be32(p + 28), free_blocks = Be32(p + 52);
    if (root == 0 || root >= length || levels == 0 || levels > kMaxLevels) {
      return Bad(where + ": free-space b-tree root " + std::to_string(root) + " at level " + std::to_string(levels));
    }
    std::vector<Extent> free;  // AG blocks
    RETURN_IF_ERROR(WalkFreeTree(ag, length, root, levels, where, free));
    uint64_t total = 0;
    uint64_t at = 0;
    for (const Extent& e : free) {
      total += e.length;
      if (e.offset > at) AddRun(map, (ag_start + at) * sb_.block_size, (e.offset - at) * sb_.block_size);
      at = e.end();
    }
    if (at < length) AddRun(map, (ag_start + at) * sb_.block_size, (length - at) * sb_.block_size);
    if (total != free_blocks) {
      return Bad(where + ": its free-space b-tree lists " + std::to_string(total) + " free blocks, its AGF " +
                 std::to_string(free_blocks));
    }
    return {};
  }

  Status WalkFreeTree(uint32_t ag, uint64_t length, uint32_t root, uint32_t levels, const std::string& where,
                      std::vector<Extent>& free) {
    const uint32_t bs = sb_.block_size;
    const size_t header = sb_.v5 ? 56 : 16;
    const uint32_t magic = sb_.v5 ? kBnoMagicV5 : kBnoMagicV4;
    const size_t max_leaf = (bs - header) / 8, max_node = (bs - header) / 12;
    struct Todo {
      uint32_t agbno, level;
    };
    std::vector<Todo> stack = {{root, levels - 1}};
    std::vector<uint8_t> b(bs);
    uint64_t visited = 0;
    while (!stack.empty()) {
      const Todo t = stack.back();
      stack.pop_back();
      if (++visited > length) return Bad(where + ": its free-space b-tree visits more blocks than the group has");
      const uint64_t block = uint64_t{ag} * sb_.ag_blocks + t.agbno;
      RETURN_IF_ERROR(Read(block * bs, b));
      const uint8_t* p = b.data();
      const std::string at = where + ", free-space b-tree block " + std::to_string(t.agbno);
      const uint32_t recs = Be16(p + 6);
      if (Be32(p) != magic || Be16(p + 4) != t.level)
        return Bad(at + ": not a block of level " + std::to_string(t.level));
      if (sb_.v5 && (Be64(p + 16) != block * (bs / kBB) || Be32(p + 48) != ag)) {
        return Bad(at + ": it names another place or group");
      }
      if (t.level == 0) {
        if (recs > max_leaf || (recs == 0 && t.agbno != root))
          return Bad(at + ": " + std::to_string(recs) + " records");
        for (uint32_t i = 0; i < recs; ++i) {
          const uint64_t start = Be32(p + header + 8 * i), count = Be32(p + header + 8 * i + 4);
          const uint64_t prev_end = free.empty() ? 0 : free.back().end();
          if (count == 0 || start + count > length || start < prev_end) {
            return Bad(at + ": free extent " + std::to_string(start) + "+" + std::to_string(count) +
                       " is empty, out of order or outside the group");
          }
          free.push_back({start, count});
        }
        continue;
      }
      if (recs == 0 || recs > max_node) return Bad(at + ": " + std::to_string(recs) + " pointers");
      const uint8_t* ptrs = p + header + 8 * max_node;
      for (uint32_t i = recs; i-- > 0;) {  // pushed last to first: visited in key order
        const uint32_t child = Be32(ptrs + 4 * i);
        if (child == 0 || child >= length) return Bad(at + ": pointer to block " + std::to_string(child));
        stack.push_back({child, t.level - 1});
      }
    }
    return {};
  }

  Image& disk_;
  uint64_t offset_, size_;
  std::string who_;
  Super sb_;
};

}  // namespace

Result<UsedBlocks> MapXfs(Image& disk, uint64_t offset, uint64_t size, std::string_view name) {
  return Xfs(disk, offset, size, std::string(name)).Map();
}

}  // namespace vhdcrypt::fsmap_internal
