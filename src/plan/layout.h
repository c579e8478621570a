// Where everything goes in an output disk when some of its volumes become
// LUKS2 with the header attached. An encrypted volume keeps its plaintext size
// as the data segment and gains the header in front of it, so its partition
// grows by the header size and every later partition moves up by as much; the
// disk grows by the sum (then to what the container needs, a whole MiB for
// fixed VHD). Filesystems are never resized. Gaps between partitions (GRUB's
// core image after the MBR, for one) move with whatever follows them.
//
// The partition table is re-encoded with formats/ from the one read: MBR keeps
// its boot code, disk signature, types and boot flags; GPT keeps its disk and
// partition GUIDs, types, names and attributes, and gets a new backup at the
// new end of the disk. A disk without a table (a filesystem on the whole disk)
// becomes header + data segment.
//
// Pure: no I/O, so every case is a unit test.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "formats/partition_table.h"

namespace vhdcrypt {

// A source range and where it lands in the output: copied as is (volume -1,
// skipping zeros and unallocated blocks) or encrypted as the data segment of
// volume `volume` (an index into the request list).
struct Segment {
  uint64_t source_offset = 0;
  uint64_t length = 0;
  uint64_t out_offset = 0;
  int volume = -1;
  bool operator==(const Segment&) const = default;
};

// A volume to encrypt: a partition (0: the whole disk) and the bytes of LUKS
// header it gets in front of its data. header_bytes 0: the header is detached
// (kept elsewhere), so the volume keeps its size.
struct VolumeRequest {
  uint32_t partition = 0;
  uint64_t header_bytes = 0;  // a whole number of MiB, or 0
  // The volume is edited while still plaintext, before its header goes in
  // (an OS volume with its header attached): the layout also gives a table
  // whose partition starts at the data segment (DiskLayout::edit_table_writes).
  bool edited_before_header = false;
};

// A partition to add after everything else (a new /boot, when / held it):
// the next free number (MBR: a primary slot), 1 MiB aligned, left zero.
struct NewPartition {
  uint64_t size = 0;       // a whole number of MiB; 0: none
  std::string gpt_type;    // GUID text (GPT)
  std::string gpt_unique;  // GUID text (GPT), chosen by the caller
  std::string gpt_name;
  uint8_t mbr_type = 0x83;
};

struct PlannedVolume {
  uint32_t partition = 0;             // 0: the whole disk
  uint64_t source_offset = 0;         // plaintext volume in the source
  uint64_t size = 0;                  // plaintext bytes = data segment bytes
  uint64_t header_offset = 0;         // LUKS header in the output (attached); data segment at + header_bytes
  uint64_t data_offset = 0;           // the data segment in the output
  uint64_t out_partition_offset = 0;  // the partition in the output (== header_offset)
  uint64_t out_partition_size = 0;    // header_bytes + size
};

struct DiskLayout {
  uint64_t source_size = 0;
  uint64_t out_size = 0;               // virtual size of the output disk
  std::vector<PlannedVolume> volumes;  // in request order
  std::vector<Segment> segments;       // in output order, non-overlapping
  // The new partition table, written after the segments (they may cover the
  // same sectors with the old table's bytes).
  std::vector<DiskWrite> table_writes;
  // When a request is edited_before_header: the same table but with that
  // partition starting at its data segment (header_bytes later, its plaintext
  // size), so that the volume can be mounted from the output while it is
  // still plaintext; table_writes replaces it afterwards. Empty otherwise.
  std::vector<DiskWrite> edit_table_writes;
  // The added partition, if one was asked for.
  uint32_t new_partition = 0;
  uint64_t new_partition_offset = 0;
  uint64_t new_partition_size = 0;
};

// `encrypt` lists partition numbers of `table` to encrypt, or {0} for a disk
// without a partition table. sector0 is LBA 0 of the source (boot code, disk
// signature, protective MBR flags). Refuses (kInvalidInput, naming the disk)
// an MBR with logical partitions when anything must move or be added,
// partitions that would pass the MBR's 2 TiB limit, unknown partition
// numbers, a whole disk request on a partitioned disk, and an added partition
// with no free slot (MBR: 4 primaries; GPT: 128 entries) or on a disk without
// a table.
Result<DiskLayout> PlanDiskLayout(const std::string& disk_name, const PartitionTable& table,
                                  std::span<const uint8_t, kSectorSize> sector0, uint64_t source_size,
                                  std::span<const VolumeRequest> encrypt, ContainerKind out_kind,
                                  const NewPartition& add = {});

}  // namespace vhdcrypt
