#include "src/plan/layout.h"

#include <algorithm>

#include "formats/gpt.h"
#include "formats/mbr.h"
#include "formats/writer.h"

namespace vhdcrypt {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

Result<uint8_t> MbrType(const std::string& disk, const Partition& p) {
  auto type = MbrTypeFromText(p.type);
  if (!type) {
    return InvalidInput(disk + ": partition " + std::to_string(p.number) + ": unexpected MBR type '" + p.type + "'");
  }
  return *type;
}

Result<std::vector<DiskWrite>> EncodeMbrTable(const std::string& disk, std::span<const uint8_t, kSectorSize> sector0,
                                              const std::vector<Partition>& moved, uint64_t out_size) {
  ASSIGN_OR_RETURN(Mbr old, DecodeMbr(sector0));
  MbrLayout layout;
  layout.boot_code = old.boot_code;
  layout.disk_signature = old.disk_signature;
  for (const Partition& p : moved) {
    ASSIGN_OR_RETURN(uint8_t type, MbrType(disk, p));
    const uint64_t lba = p.start / kSectorSize, sectors = p.size / kSectorSize;
    if (lba + sectors > 0xFFFFFFFFull) {
      return InvalidInput(disk + ": partition " + std::to_string(p.number) + " would end at sector " +
                          std::to_string(lba + sectors) +
                          ", past the MBR's 32-bit limit (2 TiB); convert the disk to GPT");
    }
    layout.partitions.push_back(
        MbrPartitionSpec{p.number, type, p.bootable, static_cast<uint32_t>(lba), static_cast<uint32_t>(sectors)});
  }
  auto writes = EncodeMbr(layout, out_size);
  if (!writes.ok()) return InvalidInput(disk + ": " + writes.error().message());
  return writes;
}

Result<std::vector<DiskWrite>> EncodeGptTable(const std::string& disk, const PartitionTable& table,
                                              std::span<const uint8_t, kSectorSize> sector0,
                                              const std::vector<Partition>& moved, uint64_t out_size) {
  GptLayout layout;
  ASSIGN_OR_RETURN(Mbr pmbr, DecodeMbr(sector0));
  layout.boot_code = pmbr.boot_code;
  layout.protective_mbr_bootable = pmbr.entries[0].boot_indicator == 0x80;
  ASSIGN_OR_RETURN(layout.disk_guid, ParseGuid(table.disk_id));
  for (const Partition& p : moved) {
    GptPartitionSpec s;
    s.number = p.number;
    ASSIGN_OR_RETURN(s.type, ParseGuid(p.type));
    ASSIGN_OR_RETURN(s.unique, ParseGuid(p.uuid));
    s.first_lba = p.start / kSectorSize;
    s.last_lba = p.end() / kSectorSize - 1;
    s.attributes = p.attributes;
    s.name = p.name;
    layout.partitions.push_back(std::move(s));
  }
  auto writes = EncodeGpt(layout, out_size);
  if (!writes.ok()) return InvalidInput(disk + ": " + writes.error().message());
  return writes;
}

// The partition `add` asks for, at the first MiB boundary at or after `from`
// with the first free number.
Result<Partition> AddPartition(const std::string& disk, const PartitionTable& table,
                               const std::vector<Partition>& parts, const NewPartition& add, uint64_t from) {
  const uint32_t slots = table.kind == TableKind::kMbr ? 4 : kGptNumEntries;
  uint32_t number = 1;
  while (number <= slots &&
         std::any_of(parts.begin(), parts.end(), [&](const Partition& p) { return p.number == number; })) {
    ++number;
  }
  if (number > slots) {
    return InvalidInput(disk + ": no free partition slot for the new partition (all " + std::to_string(slots) +
                        (table.kind == TableKind::kMbr ? " MBR primary entries" : " GPT entries") + " are used)");
  }
  Partition q;
  q.number = number;
  q.start = (from + kMiB - 1) / kMiB * kMiB;
  q.size = add.size;
  if (table.kind == TableKind::kMbr) {
    q.type = MbrTypeText(add.mbr_type);
  } else {
    q.type = add.gpt_type;
    q.uuid = add.gpt_unique;
    q.name = add.gpt_name;
  }
  return q;
}

// The requests and the added partition as PlanDiskLayout takes them.
Status CheckRequests(const std::string& disk, const PartitionTable& table, std::span<const VolumeRequest> encrypt,
                     const NewPartition& add) {
  for (const VolumeRequest& r : encrypt) {
    if (r.header_bytes % kMiB != 0) {
      return UsageError("internal error: LUKS header size " + std::to_string(r.header_bytes) + " is not whole MiB");
    }
  }
  if (add.size % kMiB != 0) {
    return UsageError("internal error: new partition size " + std::to_string(add.size) + " is not whole MiB");
  }
  if (add.size != 0 && table.kind == TableKind::kNone) {
    return InvalidInput(disk + ": has no partition table to add a partition to");
  }
  if (table.kind == TableKind::kNone && !encrypt.empty() && encrypt[0].edited_before_header) {
    return UsageError("internal error: a volume edited before its header must be a partition");
  }
  if (table.kind == TableKind::kNone && !encrypt.empty() && (encrypt.size() != 1 || encrypt[0].partition != 0)) {
    return InvalidInput(disk + ": has no partition table, so only the whole disk can be encrypted");
  }
  return {};
}

// For each partition of `parts`, the index of the request naming it, or -1.
Result<std::vector<int>> MatchRequests(const std::string& disk, const std::vector<Partition>& parts,
                                       std::span<const VolumeRequest> encrypt) {
  std::vector<int> request_of(parts.size(), -1);
  for (size_t r = 0; r < encrypt.size(); ++r) {
    const uint32_t number = encrypt[r].partition;
    auto it = std::find_if(parts.begin(), parts.end(), [&](const Partition& p) { return p.number == number; });
    if (number == 0 || it == parts.end()) {
      return InvalidInput(disk + ": has no partition " + std::to_string(number) + " to encrypt");
    }
    if (request_of[it - parts.begin()] != -1) {
      return InvalidInput(disk + ": partition " + std::to_string(number) + " requested twice");
    }
    request_of[it - parts.begin()] = static_cast<int>(r);
  }
  return request_of;
}

// Logical MBR partitions cannot move yet, nor can one be added beside them.
Status RefuseMovingLogicals(const std::string& disk, const PartitionTable& table, const std::vector<Partition>& parts,
                            std::span<const VolumeRequest> encrypt, const NewPartition& add) {
  const bool moves = std::any_of(encrypt.begin(), encrypt.end(), [](const VolumeRequest& r) { return r.header_bytes; });
  if (table.kind != TableKind::kMbr || (!moves && add.size == 0)) return {};
  for (const Partition& p : parts) {
    if (p.number > 4 || IsExtendedType(MbrTypeFromText(p.type).value_or(0))) {
      return InvalidInput(disk + ": partition " + std::to_string(p.number) +
                          " is an extended or logical MBR partition; vhdcrypt cannot move or add partitions "
                          "beside those yet (convert the disk to GPT, or use primary partitions)");
    }
  }
  return {};
}

// The segments of a partitioned disk: each partition in start order, the
// requested ones growing by their header bytes and every later byte moving
// by what the earlier ones grew; the bytes between partitions are copied.
// Fills out.volumes and out.segments and returns the partitions as they will
// be; *end is the source offset after the last partition, *shift the growth.
std::vector<Partition> PlacePartitions(const std::vector<Partition>& parts, const std::vector<int>& request_of,
                                       std::span<const VolumeRequest> encrypt, DiskLayout& out, uint64_t* end,
                                       uint64_t* shift) {
  std::vector<Partition> moved;
  uint64_t pos = 0;
  *shift = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Partition& p = parts[i];
    if (p.start > pos) out.segments.push_back({pos, p.start - pos, pos + *shift, -1});
    Partition q = p;
    q.start = p.start + *shift;
    if (request_of[i] >= 0) {
      PlannedVolume& v = out.volumes[request_of[i]];
      const uint64_t header_bytes = encrypt[request_of[i]].header_bytes;
      v.partition = p.number;
      v.source_offset = p.start;
      v.size = p.size;
      v.header_offset = p.start + *shift;
      v.data_offset = v.header_offset + header_bytes;
      v.out_partition_offset = v.header_offset;
      v.out_partition_size = p.size + header_bytes;
      q.size = p.size + header_bytes;
      *shift += header_bytes;
    }
    out.segments.push_back({p.start, p.size, p.start + *shift, request_of[i]});
    moved.push_back(q);
    pos = p.end();
  }
  *end = pos;
  return moved;
}

// The partitions as `moved` has them, but each one edited before its
// header starting at its data segment, with its plaintext size.
std::vector<Partition> PlaintextView(std::vector<Partition> moved, std::span<const VolumeRequest> encrypt) {
  for (const VolumeRequest& r : encrypt) {
    if (!r.edited_before_header) continue;
    for (Partition& p : moved) {
      if (p.number != r.partition) continue;
      p.start += r.header_bytes;
      p.size -= r.header_bytes;
    }
  }
  return moved;
}

}  // namespace

Result<DiskLayout> PlanDiskLayout(const std::string& disk, const PartitionTable& table,
                                  std::span<const uint8_t, kSectorSize> sector0, uint64_t source_size,
                                  std::span<const VolumeRequest> encrypt, ContainerKind out_kind,
                                  const NewPartition& add) {
  RETURN_IF_ERROR(CheckRequests(disk, table, encrypt, add));
  DiskLayout out;
  out.source_size = source_size;
  if (encrypt.empty() && add.size == 0) {
    out.out_size = ContainerVirtualSize(out_kind, source_size);
    out.segments.push_back({0, source_size, 0, -1});
    return out;
  }
  if (table.kind == TableKind::kNone) {  // the whole disk, one volume
    const uint64_t header_bytes = encrypt[0].header_bytes;
    out.volumes.push_back({0, 0, source_size, 0, header_bytes, 0, header_bytes + source_size});
    out.segments.push_back({0, source_size, header_bytes, 0});
    out.out_size = ContainerVirtualSize(out_kind, source_size + header_bytes);
    return out;
  }
  std::vector<Partition> parts = table.partitions;
  std::sort(parts.begin(), parts.end(), [](const Partition& a, const Partition& b) { return a.start < b.start; });
  ASSIGN_OR_RETURN(std::vector<int> request_of, MatchRequests(disk, parts, encrypt));
  RETURN_IF_ERROR(RefuseMovingLogicals(disk, table, parts, encrypt, add));
  out.volumes.resize(encrypt.size());
  uint64_t pos = 0, shift = 0;
  std::vector<Partition> moved = PlacePartitions(parts, request_of, encrypt, out, &pos, &shift);
  // GPT: the old backup array and header (the last 33 sectors) are not data;
  // the new ones go to the new end.
  const uint64_t tail_end =
      std::max(pos, table.kind == TableKind::kGpt ? source_size - (kGptArraySectors + 1) * kSectorSize : source_size);
  if (tail_end > pos) out.segments.push_back({pos, tail_end - pos, pos + shift, -1});
  out.out_size = ContainerVirtualSize(out_kind, source_size + shift);
  if (add.size != 0) {
    ASSIGN_OR_RETURN(Partition q, AddPartition(disk, table, moved, add, tail_end + shift));
    out.new_partition = q.number;
    out.new_partition_offset = q.start;
    out.new_partition_size = q.size;
    // Room after it for the GPT backup (33 sectors), in whole MiB.
    out.out_size = ContainerVirtualSize(out_kind, std::max(out.out_size, q.end() + kMiB));
    moved.push_back(std::move(q));
  }
  std::sort(moved.begin(), moved.end(), [](const Partition& a, const Partition& b) { return a.number < b.number; });
  const auto encode = [&](const std::vector<Partition>& view) {
    return table.kind == TableKind::kMbr ? EncodeMbrTable(disk, sector0, view, out.out_size)
                                         : EncodeGptTable(disk, table, sector0, view, out.out_size);
  };
  ASSIGN_OR_RETURN(out.table_writes, encode(moved));
  if (std::any_of(encrypt.begin(), encrypt.end(), [](const VolumeRequest& r) { return r.edited_before_header; })) {
    ASSIGN_OR_RETURN(out.edit_table_writes, encode(PlaintextView(moved, encrypt)));
  }
  return out;
}

}  // namespace vhdcrypt
