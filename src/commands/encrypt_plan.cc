// encrypt, stage 1: what will be written where (encrypt_stages.h). Nothing
// is written here.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <set>

#include "base/strings.h"
#include "base/version.h"
#include "formats/gpt.h"
#include "formats/guid.h"
#include "formats/mbr.h"
#include "guestfs/inspect.h"
#include "src/check/report.h"
#include "src/commands/encrypt_stages.h"
#include "src/crypto/luks.h"
#include "src/fsmap/used_blocks.h"
#include "src/outdir/names.h"
#include "src/plan/fs_probe.h"

namespace vhdcrypt::encrypt {
namespace {

// blkid's PARTUUID: the GPT partition GUID in lowercase, or for MBR the disk
// signature and the partition number ("deb12001-02").
Result<std::string> PartUuid(const std::string& disk, const PartitionTable& table, const Partition& p) {
  std::string id;
  if (table.kind == TableKind::kGpt) {
    id = p.uuid;
  } else if (table.kind == TableKind::kMbr && table.disk_id.size() == 10 && table.disk_id != "0x00000000") {
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "-%02x", p.number);
    id = table.disk_id.substr(2) + suffix;
  }
  if (id.empty()) {
    return InvalidInput(disk + ": partition " + std::to_string(p.number) +
                        " has no PARTUUID to find it by at boot (an MBR disk whose disk signature is 0?)");
  }
  return Lower(id);
}

// --data-only: the filesystems of each disk from its partition table and
// superblocks, named as the appliance would name them.
Result<guest::Facts> ProbeDataDisks(const std::vector<std::string>& inputs, FormatHint first_format) {
  guest::Facts facts;
  facts.image = inputs[0];
  facts.data_disks.assign(inputs.begin() + 1, inputs.end());
  for (size_t d = 0; d < inputs.size(); ++d) {
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(inputs[d]));
    ASSIGN_OR_RETURN(auto image, OpenImage(std::move(file), d == 0 ? first_format : FormatHint::kAuto));
    ASSIGN_OR_RETURN(PartitionTable table, ReadPartitionTable(*image));
    std::vector<Partition> parts = table.partitions;
    if (table.kind == TableKind::kNone) parts.push_back({0, 0, image->virtual_size()});
    for (const Partition& p : parts) {
      if (p.type == kGptTypeEfiSystem || p.type == kGptTypeBiosBoot || p.type == "0xef" || p.bootable) {
        return UsageError(inputs[d] + ": partition " + std::to_string(p.number) +
                          " is a boot partition, so this looks like an OS disk; --data-only would encrypt its "
                          "root filesystem. Leave out --data-only to inspect it");
      }
      if (table.kind == TableKind::kMbr && IsExtendedType(MbrTypeFromText(p.type).value_or(0))) {
        continue;
      }
      ASSIGN_OR_RETURN(FsProbe probe, ProbeFilesystem(*image, p.start, p.size));
      guest::Filesystem fs;
      fs.device = guest::ApplianceDevice(d, p.number);
      fs.disk = static_cast<int>(d);
      fs.partition = static_cast<int>(p.number);
      fs.type = probe.type.empty() ? "unknown" : probe.type;
      fs.uuid = probe.uuid;
      fs.size = p.size;
      facts.filesystems.push_back(std::move(fs));
    }
  }
  return facts;
}

// The OS volume: the partition holding /, with its LUKS header detached on
// the plaintext /boot (ADE's layout) or attached; either way the kernel and
// initramfs need a plaintext /boot (when / holds it, PlanDisks adds a new
// /boot partition). What is not supported yet is refused here, before
// anything is written.
Result<Volume> SelectOsVolume(const EncryptCommandOptions& o, const guest::Facts& facts) {
  const std::string& image = o.image;
  auto fs = std::find_if(facts.filesystems.begin(), facts.filesystems.end(),
                         [&](const guest::Filesystem& f) { return f.device == facts.os.root; });
  auto root_line =
      std::find_if(facts.fstab.begin(), facts.fstab.end(), [](const guest::FstabEntry& e) { return e.file == "/"; });
  if (fs == facts.filesystems.end() || root_line == facts.fstab.end()) {
    return InvalidInput(image + ": cannot find the root filesystem " + facts.os.root + " and its /etc/fstab line");
  }
  const guest::Filesystem* volume = &*fs;
  if (fs->on_lvm || facts.root_on_lvm) {
    // / on an LV: its volume group's one PV is the OS volume.
    volume = guest::SingleRootPv(facts);
    if (volume == nullptr) {
      return UsageError(image + ": / is on LVM (" + fs->device + ") in a volume group of " +
                        std::to_string(facts.root_pvs.size()) +
                        " physical volume(s); vhdcrypt encrypts a root volume group only when it is one partition "
                        "of the OS disk");
    }
  } else if (fs->disk != 0 || fs->partition == 0) {
    return InvalidInput(image + ": / (" + fs->device + ") is not a partition of the OS disk");
  }
  if (facts.initramfs_tool != "initramfs-tools" && facts.initramfs_tool != "dracut") {
    return UsageError(image + ": the guest builds its initramfs with " +
                      (facts.initramfs_tool.empty() ? std::string("an unknown tool") : facts.initramfs_tool) +
                      "; vhdcrypt can make initramfs-tools and dracut guests unlock the OS volume at boot");
  }
  Volume v;
  v.os = true;
  v.m.header = o.os_header;
  v.lvm_pv = volume != &*fs;
  v.choice.fs = volume;
  v.choice.fstab = &*root_line;
  v.choice.mountpoint = "/";
  return v;
}

// Every input opened again through formats/ (the inspection validated them),
// with its partition table and output name.
Result<std::vector<Disk>> OpenDisks(const EncryptCommandOptions& o, const Inputs& in) {
  std::vector<Disk> disks;
  std::set<std::string> names;
  for (size_t d = 0; d < in.paths.size(); ++d) {
    Disk disk;
    disk.input = in.paths[d];
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(disk.input));
    ASSIGN_OR_RETURN(disk.image, OpenImage(std::move(file), d == 0 ? o.format : FormatHint::kAuto));
    ASSIGN_OR_RETURN(disk.table, ReadPartitionTable(*disk.image));
    RETURN_IF_ERROR(disk.image->ReadAt(0, disk.sector0));
    disk.out_kind = o.has_to ? o.to : disk.image->kind();
    disk.work_kind = disk.out_kind;
    disk.out_name = ImageOutputName(disk.input, disk.out_kind);
    if (!names.insert(disk.out_name).second) {
      return UsageError(disk.input + ": its output name " + disk.out_name +
                        " is already taken by another input; rename one of them");
    }
    disks.push_back(std::move(disk));
  }
  return disks;
}

// The volume's place on its disk (its partition, or the whole disk), its
// sector size and its manifest entry; the disk learns it holds volume i.
Status PlaceVolume(const EncryptCommandOptions& o, size_t i, Volume& v, Disk& disk) {
  const guest::Filesystem& fs = *v.choice.fs;
  uint64_t offset = 0, size = disk.image->virtual_size();
  if (fs.partition != 0) {
    auto it = std::find_if(disk.table.partitions.begin(), disk.table.partitions.end(),
                           [&](const Partition& p) { return p.number == static_cast<uint32_t>(fs.partition); });
    if (it == disk.table.partitions.end()) {
      return InvalidInput(disk.input + ": the appliance saw " + fs.device +
                          " but the partition table has no partition " + std::to_string(fs.partition));
    }
    offset = it->start;
    size = it->size;
    if (v.os) {
      ASSIGN_OR_RETURN(v.partuuid, PartUuid(disk.input, disk.table, *it));
      if (disk.out_kind == ContainerKind::kVhdDynamic) disk.work_kind = ContainerKind::kRaw;
    }
  } else if (disk.table.kind != TableKind::kNone) {
    return InvalidInput(disk.input + ": " + fs.device + " is not a partition of its partitioned disk");
  }
  ASSIGN_OR_RETURN(FsProbe probe, ProbeFilesystem(*disk.image, offset, size));
  // dm-crypt's sector is the device's logical block: a filesystem that does
  // smaller I/O fails to mount on it.
  if (o.sector_size > probe.min_io && !probe.type.empty()) {
    return UsageError(disk.input + ": " + fs.device + " (" + probe.type + ") does I/O of " +
                      std::to_string(probe.min_io) + " bytes; with --sector-size " + std::to_string(o.sector_size) +
                      " the kernel would refuse it and the volume would not mount (use 512 or leave it out)");
  }
  const uint32_t sector = o.sector_size != 0 ? o.sector_size : ChooseSectorSize(probe, size);
  if (size % sector != 0) {
    return InvalidInput(disk.input + ": " + fs.device + " is " + std::to_string(size) +
                        " bytes, not a whole number of " + std::to_string(sector) + "-byte sectors");
  }
  v.m.disk = fs.disk;
  v.m.partition = static_cast<uint32_t>(fs.partition);
  v.m.device = fs.device;
  v.m.mountpoint = v.choice.mountpoint;
  v.m.filesystem = fs.type;
  v.m.filesystem_uuid = fs.uuid;
  v.m.sector_size = sector;
  v.m.pbkdf = PbkdfName(o.luks.pbkdf);
  v.m.source_offset = offset;
  v.m.size = size;
  disk.volumes.push_back(i);
  return {};
}

// --skip-free-space: the blocks each volume's filesystem uses, read from the
// input now, so that a filesystem that cannot be mapped costs nothing.
Status MapFreeSpace(const EncryptCommandOptions& o, Plan& plan) {
  for (Volume& v : plan.volumes) {
    v.m.encrypted_bytes = v.m.size;
    if (!o.skip_free_space) continue;
    const Disk& disk = plan.disks.at(static_cast<size_t>(v.m.disk));
    const std::string name = disk.input + (v.m.partition == 0 ? std::string(" (whole disk)")
                                                              : " partition " + std::to_string(v.m.partition));
    auto map = MapUsedBlocks(*disk.image, v.m.source_offset, v.m.size, name);
    if (!map.ok()) {
      return Error(map.error().kind(),
                   map.error().message() + " (without --skip-free-space every block is encrypted, free or not)");
    }
    v.used = std::move(map->used);
    v.m.free_space = FreeSpace::kSkipped;
    v.m.encrypted_bytes = map->used_bytes;
    spdlog::info("{}: {} of {} in use: only those are encrypted and written", name, HumanBytes(map->used_bytes),
                 HumanBytes(v.m.size));
  }
  return {};
}

// The disk's output layout around its volumes; new_boot_bytes != 0 adds a
// /boot partition of that size (the OS disk only).
Status LayOutDisk(Disk& disk, std::vector<Volume>& volumes, uint64_t new_boot_bytes) {
  std::vector<VolumeRequest> requests;
  for (size_t i : disk.volumes) {
    const Volume& v = volumes[i];
    requests.push_back({v.m.partition, v.detached() ? 0 : kHeaderBytes, v.os});
  }
  NewPartition boot;
  if (new_boot_bytes != 0) boot = {new_boot_bytes, kGptTypeLinuxFilesystem, RandomGuid().ToString(), "boot", 0x83};
  ASSIGN_OR_RETURN(disk.layout, PlanDiskLayout(disk.input, disk.table, disk.sector0, disk.image->virtual_size(),
                                               requests, disk.out_kind, boot));
  for (size_t k = 0; k < disk.volumes.size(); ++k) {
    ManifestVolume& m = volumes[disk.volumes[k]].m;
    m.header_offset = disk.layout.volumes[k].header_offset;
    m.data_offset = disk.layout.volumes[k].data_offset;
  }
  return {};
}

}  // namespace

Result<Inputs> ReadInputs(const EncryptCommandOptions& o) {
  Inputs in;
  in.paths = {o.image};
  in.paths.insert(in.paths.end(), o.data_disks.begin(), o.data_disks.end());
  if (o.data_only) {
    ASSIGN_OR_RETURN(in.facts, ProbeDataDisks(in.paths, o.format));
  } else {
    ASSIGN_OR_RETURN(in.facts, guest::CollectFacts({o.image, o.format, o.data_disks}));
  }
  in.has_os = in.facts.os.found;
  if (!in.has_os && !o.data_only) {
    spdlog::info("{}: no operating system found; encrypting every filesystem on the given disks", o.image);
  }
  return in;
}

Status GateOnFindings(const EncryptCommandOptions& o, const Inputs& in) {
  if (!in.has_os) return {};
  const auto findings = RunRules(in.facts, o.rules);
  const bool errors =
      std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::kError; });
  if (!errors) return {};
  std::cerr << CheckText(in.facts, findings);
  if (!o.force) {
    return Error(ErrorKind::kFindings, o.image + ": check found errors; fix them, or pass --force to encrypt anyway");
  }
  spdlog::warn("{}: encrypting despite check errors (--force)", o.image);
  return {};
}

Result<std::vector<Volume>> PlanVolumes(const EncryptCommandOptions& o, const Inputs& in) {
  const bool want_os = o.rules.volume_type != VolumeType::kData;
  const bool want_data = o.rules.volume_type != VolumeType::kOs;
  if (want_os && !in.has_os) {
    return InvalidInput(o.image + ": no operating system found, so there is no OS volume to encrypt");
  }
  std::vector<Volume> volumes;
  if (want_os) {
    ASSIGN_OR_RETURN(Volume os, SelectOsVolume(o, in.facts));
    volumes.push_back(std::move(os));
  }
  if (want_data) {
    ASSIGN_OR_RETURN(VolumeSelection selection, SelectDataVolumes(in.facts));
    for (const auto& s : selection.skipped) spdlog::warn("{}", s);
    if (selection.volumes.empty() && !want_os) return InvalidInput(o.image + ": no data volume to encrypt");
    for (const auto& c : selection.volumes) volumes.push_back({c, {}});
  }
  return volumes;
}

Result<Plan> PlanDisks(const EncryptCommandOptions& o, const Inputs& in, std::vector<Volume> volumes) {
  Plan plan;
  ASSIGN_OR_RETURN(plan.disks, OpenDisks(o, in));
  plan.volumes = std::move(volumes);
  bool has_os_volume = false;
  for (size_t i = 0; i < plan.volumes.size(); ++i) {
    Volume& v = plan.volumes[i];
    has_os_volume = has_os_volume || v.os;
    RETURN_IF_ERROR(PlaceVolume(o, i, v, plan.disks.at(v.choice.fs->disk)));
  }
  RETURN_IF_ERROR(MapFreeSpace(o, plan));
  // / holding /boot: the kernel, the initramfs (and a detached header) need a
  // plaintext /boot, so one is made.
  plan.split_boot = has_os_volume && !in.facts.separate_boot;
  for (size_t d = 0; d < plan.disks.size(); ++d) {
    const bool new_boot = d == 0 && plan.split_boot;
    RETURN_IF_ERROR(LayOutDisk(plan.disks[d], plan.volumes, new_boot ? o.boot_size_mib * 1024 * 1024 : 0));
  }
  if (plan.split_boot) {
    plan.boot_device = guest::ApplianceDevice(0, plan.disks[0].layout.new_partition);
    spdlog::info("{}: / holds /boot; /boot moves to a new {} MiB partition {}", o.image, o.boot_size_mib,
                 plan.disks[0].layout.new_partition);
  } else if (has_os_volume) {
    plan.boot_device = in.facts.boot_device;
  }
  return plan;
}

Manifest MakeManifest(const Inputs& in, const Plan& plan, const KeyOutputs& keys,
                      const std::vector<std::string>& sums) {
  Manifest m;
  m.tool = kToolName;
  m.passphrase_file = keys.passphrase ? "passphrase" : "";
  for (size_t i = 0; i < plan.disks.size(); ++i) {
    const Disk& d = plan.disks[i];
    m.disks.push_back({d.input, sums[i], d.image->kind(), d.image->virtual_size(), d.out_name, d.out_kind,
                       d.layout.out_size, TableKindName(d.table.kind), i == 0 && in.has_os});
  }
  for (const Volume& v : plan.volumes) m.volumes.push_back(v.m);
  return m;
}

}  // namespace vhdcrypt::encrypt
