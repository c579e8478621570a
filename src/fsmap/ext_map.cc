// ext2/3/4 through libext2fs, its blocks read through an io_manager of our
// own that reads the volume out of an Image: the same code e2fsck and
// resize2fs trust with the bitmaps, BLOCK_UNINIT groups and flex_bg included.
#include "src/fsmap/mappers.h"

#include <ext2fs/ext2fs.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "formats/endian.h"

namespace vhdcrypt::fsmap_internal {
namespace {

// Superblock fields (byte offsets in the 1024-byte superblock).
constexpr size_t kBlocksCountLo = 4, kFirstDataBlock = 20, kLogBlockSize = 24, kState = 58, kIncompat = 96,
                 kRoCompat = 100, kBlocksCountHi = 336;
constexpr uint16_t kStateValid = 0x1, kStateErrors = 0x2;
constexpr uint32_t kIncompatRecover = 0x4, kIncompatJournalDev = 0x8, kIncompat64Bit = 0x80;
constexpr uint32_t kRoCompatBigalloc = 0x200;

uint32_t Le32(const uint8_t* p) { return LoadField<ul32>(p); }
uint16_t Le16(const uint8_t* p) { return LoadField<ul16>(p); }

// What the io_manager reads from: set for the duration of one MapExt on its
// thread (libext2fs opens the channel by name, synchronously, inside
// ext2fs_open2), then owned by the channel.
struct Volume {
  Image* disk = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0;
  std::optional<Error> error;  // the first read error, in our words
};
thread_local Volume* opening = nullptr;

errcode_t Read(io_channel ch, unsigned long long block, int count, void* data) {
  auto* v = static_cast<Volume*>(ch->private_data);
  // A negative count is a byte count (libext2fs' convention).
  const uint64_t bytes =
      count < 0 ? static_cast<uint64_t>(-static_cast<int64_t>(count)) : uint64_t(count) * uint64_t(ch->block_size);
  const uint64_t bs = static_cast<uint64_t>(ch->block_size);
  if (block > v->size / bs || bytes > v->size - block * bs) {
    if (!v->error) v->error = InvalidInput("the filesystem reads past the end of its volume");
    return EXT2_ET_SHORT_READ;
  }
  const Status st = v->disk->ReadAt(v->offset + block * bs, std::span(static_cast<uint8_t*>(data), bytes));
  if (!st.ok()) {
    if (!v->error) v->error = st.error();
    return EXT2_ET_SHORT_READ;
  }
  return 0;
}
errcode_t Read32(io_channel ch, unsigned long block, int count, void* data) { return Read(ch, block, count, data); }
errcode_t NoWrite(io_channel, unsigned long long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t NoWrite32(io_channel, unsigned long, int, const void*) { return EXT2_ET_RO_FILSYS; }
errcode_t SetBlockSize(io_channel ch, int size) {
  if (size <= 0) return EXT2_ET_INVALID_ARGUMENT;
  ch->block_size = size;
  return 0;
}
errcode_t Flush(io_channel) { return 0; }
errcode_t NoOption(io_channel, const char*, const char*) { return EXT2_ET_INVALID_ARGUMENT; }
errcode_t Close(io_channel ch) {
  if (--ch->refcount > 0) return 0;
  std::free(ch->name);
  std::free(ch);
  return 0;
}
errcode_t Open(const char* name, int flags, io_channel* out);

struct_io_manager MakeManager() {
  struct_io_manager m;
  std::memset(&m, 0, sizeof(m));
  m.magic = EXT2_ET_MAGIC_IO_MANAGER;
  m.name = "vhdcrypt image";
  m.open = Open;
  m.close = Close;
  m.set_blksize = SetBlockSize;
  m.read_blk = Read32;
  m.write_blk = NoWrite32;
  m.flush = Flush;
  m.set_option = NoOption;
  m.read_blk64 = Read;
  m.write_blk64 = NoWrite;
  return m;
}
struct_io_manager manager = MakeManager();

errcode_t Open(const char* name, int flags, io_channel* out) {
  if (opening == nullptr || (flags & IO_FLAG_RW)) return EXT2_ET_BAD_DEVICE_NAME;
  auto* ch = static_cast<io_channel>(std::calloc(1, sizeof(struct_io_channel)));
  if (ch == nullptr) return EXT2_ET_NO_MEMORY;
  ch->name = strdup(name);
  if (ch->name == nullptr) {
    std::free(ch);
    return EXT2_ET_NO_MEMORY;
  }
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = &manager;
  ch->block_size = 1024;
  ch->refcount = 1;
  ch->private_data = opening;
  *out = ch;
  return 0;
}

// libext2fs' own words for its error codes.
std::string Ext2Message(errcode_t code) {
  static std::once_flag tables;
  std::call_once(tables, [] { initialize_ext2_error_table(); });
  return error_message(code);
}

struct FsCloser {
  void operator()(ext2_filsys fs) const { ext2fs_close_free(&fs); }
};

// Checks the superblock's claims before libext2fs acts on them.
Status CheckSuperblock(const std::string& who, uint64_t size, const uint8_t* sb, uint32_t* block_size,
                       uint64_t* blocks) {
  const uint32_t log = Le32(sb + kLogBlockSize);
  if (log > 6)
    return InvalidInput(who + ": ext superblock: block size 2^(10+" + std::to_string(log) + ") is not 1 KiB to 64 KiB");
  *block_size = 1024u << log;
  const uint32_t incompat = Le32(sb + kIncompat), ro_compat = Le32(sb + kRoCompat);
  if (incompat & kIncompatJournalDev) return InvalidInput(who + ": an external ext journal, not a filesystem");
  if (ro_compat & kRoCompatBigalloc) {
    return InvalidInput(who + ": ext4 with bigalloc (clusters of several blocks): its used blocks are not mapped");
  }
  const uint16_t state = Le16(sb + kState);
  if (state & kStateErrors) return InvalidInput(who + ": the filesystem has its errors flag set (run e2fsck on it)");
  if (incompat & kIncompatRecover) {
    return InvalidInput(who + ": the filesystem's journal needs recovery (it was not cleanly unmounted)");
  }
  if (!(state & kStateValid)) return InvalidInput(who + ": the filesystem was not cleanly unmounted");
  *blocks = Le32(sb + kBlocksCountLo);
  if (incompat & kIncompat64Bit) *blocks |= uint64_t{Le32(sb + kBlocksCountHi)} << 32;
  const uint32_t first = Le32(sb + kFirstDataBlock);
  if (*blocks <= first) return InvalidInput(who + ": ext superblock: " + std::to_string(*blocks) + " blocks");
  if (*blocks > size / *block_size) {
    return InvalidInput(who + ": the filesystem claims " + std::to_string(*blocks) + " blocks of " +
                        std::to_string(*block_size) + " bytes, more than its volume of " + std::to_string(size) +
                        " bytes holds");
  }
  return {};
}

}  // namespace

Result<UsedBlocks> MapExt(Image& disk, uint64_t offset, uint64_t size, std::string_view name, const uint8_t* sb) {
  const std::string who(name);
  UsedBlocks map;
  uint64_t blocks = 0;
  RETURN_IF_ERROR(CheckSuperblock(who, size, sb, &map.block_size, &blocks));
  map.fs_bytes = blocks * map.block_size;

  Volume volume{&disk, offset, size, std::nullopt};
  opening = &volume;
  ext2_filsys raw = nullptr;
  const errcode_t open_rc = ext2fs_open2("volume", nullptr, EXT2_FLAG_64BITS, 0, 0, &manager, &raw);
  opening = nullptr;
  std::unique_ptr<struct_ext2_filsys, FsCloser> fs(open_rc == 0 ? raw : nullptr);
  auto failed = [&](const char* what, errcode_t rc) -> Error {
    if (volume.error) return volume.error->Context(who + ": " + what);
    return InvalidInput(who + ": " + what + ": " + Ext2Message(rc));
  };
  if (open_rc != 0) return failed("opening the ext filesystem", open_rc);
  if (ext2fs_blocks_count(fs->super) != blocks || fs->blocksize != map.block_size) {
    return InvalidInput(who + ": libext2fs read a different superblock");
  }
  // libext2fs reads a bitmap that lies outside the filesystem as all free:
  // every group's bitmaps and inode table must be where e2fsck expects them.
  if (const errcode_t rc = ext2fs_check_desc(fs.get()); rc != 0) return failed("its group descriptors", rc);
  if (const errcode_t rc = ext2fs_read_block_bitmap(fs.get()); rc != 0) {
    return failed("reading the block bitmaps", rc);
  }

  // Blocks before the first data block (the boot block of a 1 KiB-block
  // filesystem) are in no group's bitmap; keep them with the rest.
  const uint64_t bs = map.block_size;
  const blk64_t first = fs->super->s_first_data_block, last = blocks - 1;
  if (first > 0) AddRun(map, 0, first * bs);
  blk64_t at = first;
  while (at <= last) {
    blk64_t set = 0, clear = 0;
    if (ext2fs_find_first_set_block_bitmap2(fs->block_map, at, last, &set) != 0) break;
    const errcode_t rc = ext2fs_find_first_zero_block_bitmap2(fs->block_map, set, last, &clear);
    const blk64_t end = rc == 0 ? clear : last + 1;
    AddRun(map, set * bs, (end - set) * bs);
    at = end;
  }
  return map;
}

}  // namespace vhdcrypt::fsmap_internal
