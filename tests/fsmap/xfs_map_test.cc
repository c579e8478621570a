// MapUsedBlocks on XFS filesystems made by mkfs.xfs (xfsprogs), against
// xfs_db's list of every free extent: the map must be exactly their
// complement, v4 and v5, for several AG counts and block sizes. Then damaged
// copies: each refused with its reason, never read outside the volume.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "src/fsmap/used_blocks.h"
#include "tests/formats/temp_dir.h"
#include "tests/fsmap/fs_tools.h"

namespace vhdcrypt {
namespace {

using testing::TempDir;

using fsmap_test::ReadAll;
using fsmap_test::Sh;

// mkfs.xfs -p: a prototype file puts a 3 MiB file and a small tree in it.
std::string Prototype(const TempDir& dir) {
  Sh("head -c 3145728 /dev/urandom > " + (dir / "big.bin"));
  std::ostringstream p;
  p << "/dev/null\n0 0\nd--755 0 0\nbig.bin ---644 0 0 " << (dir / "big.bin") << "\nd d--755 0 0\n";
  for (int i = 0; i < 40; ++i) {
    const std::string f = dir / ("f" + std::to_string(i));
    std::ofstream(f) << std::string(static_cast<size_t>(i) * 331, 'x');
    p << "f" << i << " ---644 0 0 " << f << "\n";
  }
  p << "$\n$\n";
  std::ofstream(dir / "proto") << p.str();
  return dir / "proto";
}

// xfs_db's free extents, complemented over the filesystem: the used bytes.
std::vector<Extent> UsedFromXfsDb(const std::string& image, uint64_t* block_size) {
  std::istringstream sb(Sh("xfs_db -r -c 'sb 0' -c 'p blocksize agblocks dblocks' " + image));
  std::string key, eq;
  uint64_t ag_blocks = 0, dblocks = 0, v = 0;
  while (sb >> key >> eq >> v) {
    if (key == "blocksize") *block_size = v;
    if (key == "agblocks") ag_blocks = v;
    if (key == "dblocks") dblocks = v;
  }
  // freesp counts the blocks on each AG's free list (AGFL) as free, one by
  // one; they are reserved for the b-trees and vhdcrypt keeps them as used.
  std::set<std::pair<uint64_t, uint64_t>> agfl;  // (ag, agbno)
  for (uint64_t ag = 0; ag * ag_blocks < dblocks; ++ag) {
    const std::string a = std::to_string(ag);
    std::istringstream fl(
        Sh("xfs_db -r -c 'agf " + a + "' -c 'p flfirst fllast flcount' -c 'agfl " + a + "' -c 'p bno' " + image));
    uint64_t first = 0, count = 0, size = 0;
    std::map<uint64_t, uint64_t> slots;
    std::string word;
    while (fl >> word) {
      if (word == "flfirst") fl >> eq >> first;
      if (word == "flcount") fl >> eq >> count;
      if (word.rfind("bno[0-", 0) == 0) size = std::stoull(word.substr(6)) + 1;  // bno[0-118]
      const size_t colon = word.find(':');
      if (colon != std::string::npos && word.substr(colon + 1) != "null") {
        slots[std::stoull(word)] = std::stoull(word.substr(colon + 1));
      }
    }
    EXPECT_GT(size, first) << "no AGFL size read for AG " << ag;
    if (size <= first) continue;
    for (uint64_t i = 0; i < count; ++i) {
      const auto it = slots.find((first + i) % size);
      if (it != slots.end()) agfl.insert({ag, it->second});
    }
  }
  std::istringstream in(Sh("xfs_db -r -c 'freesp -d' " + image));
  std::string line;
  std::vector<std::pair<uint64_t, uint64_t>> free;  // linear blocks [a, b)
  while (std::getline(in, line)) {
    if (line.find("from") != std::string::npos) break;  // the histogram follows the extents
    std::istringstream f(line);
    uint64_t ag = 0, agbno = 0, len = 0;
    if (!(f >> ag >> agbno >> len)) continue;  // the heading
    if (len == 1 && agfl.count({ag, agbno})) continue;
    free.emplace_back(ag * ag_blocks + agbno, ag * ag_blocks + agbno + len);
  }
  std::sort(free.begin(), free.end());
  std::vector<Extent> used;
  const uint64_t bs = *block_size;
  auto add = [&](uint64_t a, uint64_t b) {
    if (a >= b) return;
    if (!used.empty() && used.back().end() == a * bs) {
      used.back().length += (b - a) * bs;
    } else {
      used.push_back({a * bs, (b - a) * bs});
    }
  };
  uint64_t at = 0;
  for (auto [a, b] : free) {
    add(at, a);
    at = b;
  }
  add(at, dblocks);
  return used;
}

struct Layout {
  const char* name;
  const char* mkfs;  // mkfs.xfs options
  int mib = 320;
};

class XfsLayouts : public ::testing::TestWithParam<Layout> {};

TEST_P(XfsLayouts, MapIsTheComplementOfEveryFreeExtent) {
  TempDir dir;
  const std::string image = dir / "fs.img";
  Sh("truncate -s " + std::to_string(GetParam().mib) + "M " + image + " && mkfs.xfs -q -f " + GetParam().mkfs + " -p " +
     Prototype(dir) + " " + image);
  uint64_t bs = 0;
  const std::vector<Extent> expected = UsedFromXfsDb(image, &bs);
  ASSERT_FALSE(expected.empty());
  const auto map = fsmap_test::ExpectMapIs(image, bs, expected);
  ASSERT_TRUE(map.has_value());
  EXPECT_GT(map->used_bytes, uint64_t{3} << 20);               // the files, the log
  EXPECT_LT(map->used_bytes, uint64_t(GetParam().mib) << 19);  // under half
}

INSTANTIATE_TEST_SUITE_P(MkfsXfs, XfsLayouts,
                         ::testing::Values(Layout{"v5_4_ags", "-d agcount=4"},
                                           Layout{"v5_16_ags", "-d agcount=16", 1200},
                                           Layout{"v5_1k_blocks", "-b size=1024 -d agcount=4"},
                                           Layout{"v5_rmap_reflink", "-m rmapbt=1,reflink=1 -d agcount=4"},
                                           Layout{"v5_4k_sectors", "-s size=4096 -d agcount=2"},
                                           Layout{"v4", "-m crc=0 -d agcount=4"}),
                         [](const auto& p) { return std::string(p.param.name); });

// A filesystem image with some bytes changed, the changes kept apart from
// it: each damaged case costs its reads, not a copy of 320 MiB.
class Patched {
 public:
  explicit Patched(const std::vector<uint8_t>& base) : base_(base) {}
  uint8_t& operator[](size_t at) { return bytes_.try_emplace(at, base_.at(at)).first->second; }
  const std::vector<uint8_t>& base() const { return base_; }
  const std::map<size_t, uint8_t>& changes() const { return bytes_; }

 private:
  const std::vector<uint8_t>& base_;
  std::map<size_t, uint8_t> bytes_;
};

class PatchedImage : public Image {
 public:
  explicit PatchedImage(const Patched& p) : p_(p) {}
  const std::string& path() const override { return path_; }
  ContainerKind kind() const override { return ContainerKind::kRaw; }
  uint64_t virtual_size() const override { return p_.base().size(); }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) override {
    if (offset > virtual_size() || buf.size() > virtual_size() - offset) return IoError("read past the end");
    std::copy_n(p_.base().begin() + static_cast<ptrdiff_t>(offset), buf.size(), buf.begin());
    for (auto it = p_.changes().lower_bound(offset); it != p_.changes().end() && it->first < offset + buf.size();
         ++it) {
      buf[it->first - offset] = it->second;
    }
    return {};
  }
  Result<std::vector<Extent>> AllocatedExtents() override { return std::vector<Extent>{{0, virtual_size()}}; }

 private:
  const Patched& p_;
  std::string path_ = "bad.img";
};

// Big-endian field writers and reader for the damage below (on a Patched or
// a byte vector).
template <typename B>
void PutBe32(B& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
template <typename B>
void PutBe64(B& b, size_t at, uint64_t v) {
  PutBe32(b, at, static_cast<uint32_t>(v >> 32));
  PutBe32(b, at + 4, static_cast<uint32_t>(v));
}
template <typename B>
uint32_t GetBe32(B& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

// A small v5 XFS (or v4), its geometry read back for the damage.
struct Small {
  std::vector<uint8_t> bytes;
  uint32_t bs = 0, ag_blocks = 0, sect = 0;
  uint64_t log = 0;  // byte offset of the log
  size_t Agf(uint32_t ag) const { return size_t{ag} * ag_blocks * bs + sect; }
  size_t BnoRoot(uint32_t ag) const { return (size_t{ag} * ag_blocks + GetBe32(bytes, Agf(ag) + 16)) * bs; }
};
Small MakeSmall(const TempDir& dir, const std::string& options = "") {
  const std::string image = dir / "small.img";
  Sh("rm -f " + image + " && truncate -s 320M " + image + " && mkfs.xfs -q -f -d agcount=2 " + options + " " + image);
  Small s{ReadAll(image)};
  s.bs = GetBe32(s.bytes, 4);
  s.ag_blocks = GetBe32(s.bytes, 84);
  s.sect = uint32_t{s.bytes[102]} << 8 | s.bytes[103];
  const uint64_t start = uint64_t{GetBe32(s.bytes, 48)} << 32 | GetBe32(s.bytes, 52);
  const uint32_t ag_log = s.bytes[124];
  s.log = ((start >> ag_log) * s.ag_blocks + (start & ((1u << ag_log) - 1))) * s.bs;
  return s;
}

Result<UsedBlocks> Map(const Patched& bytes) {
  PatchedImage disk(bytes);
  return MapUsedBlocks(disk, 0, disk.virtual_size(), "bad.img partition 1");
}

struct Refusal {
  const char* name;
  std::function<void(const Small&, Patched&)> damage;
  const char* says;
};

TEST(MapUsedBlocksXfs, RefusesWhatItCannotMapSafely) {
  TempDir dir;
  const Small good = MakeSmall(dir);
  ASSERT_TRUE(Map(Patched(good.bytes)).ok()) << Map(Patched(good.bytes)).error().message();
  const std::vector<Refusal> cases = {
      {"version 3", [](auto&, auto& b) { b[101] = (b[101] & 0xf0) | 3; }, "superblock version 3"},
      {"block size 3000", [](auto&, auto& b) { PutBe32(b, 4, 3000); }, "block size 3000"},
      {"block log disagrees", [](auto&, auto& b) { b[120] = 13; }, "block size"},
      {"more blocks than the volume",
       [](auto&, auto& b) {
         PutBe32(b, 84, 1u << 30);  // agblocks
         b[124] = 30;
         PutBe64(b, 8, uint64_t{1} << 31);
       },
       "more than its volume"},
      {"blocks do not fill the AGs", [](auto&, auto& b) { PutBe64(b, 8, 100); }, "do not fill"},
      {"no AGs", [](auto&, auto& b) { PutBe32(b, 88, 0); }, "allocation groups"},
      {"AG log disagrees", [](auto&, auto& b) { b[124] += 1; }, "allocation groups"},
      {"realtime", [](auto&, auto& b) { PutBe64(b, 16, 1000); }, "realtime"},
      {"mkfs in progress", [](auto&, auto& b) { b[126] = 1; }, "did not finish"},
      {"needs repair", [](auto&, auto& b) { b[219] |= 0x10; }, "needing xfs_repair"},
      {"unknown incompat", [](auto&, auto& b) { b[216] |= 0x80; }, "incompatible features"},
      {"unknown ro_compat", [](auto&, auto& b) { b[212] |= 0x80; }, "read-only features"},
      {"log incompat", [](auto&, auto& b) { b[223] |= 1; }, "log needs recovery"},
      {"external log", [](auto&, auto& b) { PutBe64(b, 48, 0); }, "another device"},
      {"log past its AG", [](auto&, auto& b) { PutBe32(b, 96, 1u << 30); }, "outside its allocation group"},
      {"log ends in a transaction", [](const Small& s, auto& b) { b[s.log + 512 + 9] &= static_cast<uint8_t>(~0x20); },
       "unmount record"},
      {"log record longer", [](const Small& s, auto& b) { PutBe32(b, s.log + 12, 4096); }, "unmount record"},
      {"log with two operations", [](const Small& s, auto& b) { PutBe32(b, s.log + 40, 2); }, "unmount record"},
      {"no log record", [](const Small& s, auto& b) { b[s.log] = 0; }, "unmount record"},
      {"AGF magic", [](const Small& s, auto& b) { b[s.Agf(1)] = 'Y'; }, "allocation group 1: no AGF"},
      {"AGF of another group", [](const Small& s, auto& b) { PutBe32(b, s.Agf(1) + 8, 0); }, "no AGF"},
      {"AGF length", [](const Small& s, auto& b) { PutBe32(b, s.Agf(0) + 12, 7); }, "its AGF says 7 blocks"},
      {"root outside the AG", [](const Small& s, auto& b) { PutBe32(b, s.Agf(0) + 16, s.ag_blocks); }, "root"},
      {"tree too deep", [](const Small& s, auto& b) { PutBe32(b, s.Agf(0) + 28, 10); }, "root"},
      {"level disagrees", [](const Small& s, auto& b) { PutBe32(b, s.Agf(0) + 28, 2); }, "not a block of level 1"},
      {"free count disagrees",
       [](const Small& s, auto& b) { PutBe32(b, s.Agf(0) + 52, GetBe32(b, s.Agf(0) + 52) + 1); },
       "free-space b-tree lists"},
      {"extent past the AG", [](const Small& s, auto& b) { PutBe32(b, s.BnoRoot(0) + 56 + 4, s.ag_blocks); },
       "outside the group"},
      {"empty extent", [](const Small& s, auto& b) { PutBe32(b, s.BnoRoot(0) + 56 + 4, 0); }, "is empty"},
      {"too many records", [](const Small& s, auto& b) { b[s.BnoRoot(0) + 6] = 0xff; }, "records"},
      {"block names another place", [](const Small& s, auto& b) { PutBe64(b, s.BnoRoot(1) + 16, 8); },
       "another place or group"},
  };
  for (const Refusal& c : cases) {
    Patched bytes(good.bytes);
    c.damage(good, bytes);
    auto map = Map(bytes);
    ASSERT_FALSE(map.ok()) << c.name;
    EXPECT_EQ(map.error().kind(), ErrorKind::kInvalidInput) << c.name;
    EXPECT_EQ(map.error().message().rfind("bad.img partition 1: XFS: ", 0), 0u)
        << c.name << ": " << map.error().message();
    EXPECT_NE(map.error().message().find(c.says), std::string::npos) << c.name << ": " << map.error().message();
  }
}

// A b-tree of two levels: a node block written into free space of AG 0,
// pointing to the leaf, becomes the root (level 2). The map is the same; a
// node that points to itself, outside the AG, or to a block of the wrong
// level is refused.
TEST(MapUsedBlocksXfs, WalksANodeLevelAndRefusesABadPointer) {
  for (const bool v5 : {true, false}) {
    TempDir dir;
    const Small s = MakeSmall(dir, v5 ? "" : "-m crc=0");
    auto want = Map(Patched(s.bytes));
    ASSERT_TRUE(want.ok()) << want.error().message();
    const size_t header = v5 ? 56 : 16, max_node = (s.bs - header) / 12;
    const uint32_t leaf = GetBe32(s.bytes, s.Agf(0) + 16);
    // A free block of AG 0: the last block of the AG (free in a new filesystem).
    const uint32_t node = s.ag_blocks - 1;
    auto with_node = [&](uint32_t pointer) {
      Patched b(s.bytes);
      const size_t at = size_t{node} * s.bs;
      for (size_t i = 0; i < header + 8; ++i) b[at + i] = s.bytes[s.BnoRoot(0) + i];  // header, first key
      b[at + 4] = 0;
      b[at + 5] = 1;  // level 1
      b[at + 6] = 0;
      b[at + 7] = 1;  // one pointer
      if (v5) PutBe64(b, at + 16, uint64_t{node} * (s.bs / 512));
      PutBe32(b, at + header + 8 * max_node, pointer);
      PutBe32(b, s.Agf(0) + 16, node);
      PutBe32(b, s.Agf(0) + 28, 2);
      return b;
    };
    auto two_levels = Map(with_node(leaf));
    ASSERT_TRUE(two_levels.ok()) << v5 << ": " << two_levels.error().message();
    EXPECT_EQ(two_levels->used, want->used) << v5;
    for (const uint32_t bad : {node, s.ag_blocks, 0u}) {
      auto map = Map(with_node(bad));
      ASSERT_FALSE(map.ok()) << v5 << " pointer " << bad;
      EXPECT_EQ(map.error().kind(), ErrorKind::kInvalidInput);
    }
  }
}

}  // namespace
}  // namespace vhdcrypt
