#include "src/commands/encrypted_dir.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "formats/copy.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/crypto/decrypting_image.h"
#include "src/fsmap/used_blocks.h"
#include "src/guest/luks_scan.h"

namespace vhdcrypt {
namespace {

Result<std::unique_ptr<Image>> OpenAny(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(path));
  return OpenImage(std::move(file), FormatHint::kAuto);
}

}  // namespace

Result<EncryptedDisks> OpenEncryptedDirectory(const std::string& dir, const Manifest& m) {
  EncryptedDisks plan;
  for (const auto& d : m.disks) {
    ASSIGN_OR_RETURN(auto img, OpenAny(dir + "/" + d.output));
    plan.images.push_back(std::move(img));
    plan.names.push_back(d.output);
  }
  std::unique_ptr<guest::Handle> g;
  for (size_t i = 0; i < m.volumes.size(); ++i) {
    const ManifestVolume& v = m.volumes[i];
    if (v.disk < 0 || static_cast<size_t>(v.disk) >= m.disks.size()) {
      return InvalidInput(dir + "/manifest.json: volume " + std::to_string(i) + " names disk " +
                          std::to_string(v.disk));
    }
    EncryptedVolume p;
    p.disk = static_cast<size_t>(v.disk);
    p.start = v.header_offset;
    p.data_offset = v.data_offset;
    p.size = v.size;
    p.what = DescribeVolume(v, m.disks[p.disk]);
    p.free_space_skipped = v.free_space == FreeSpace::kSkipped;
    if (v.header == HeaderPlacement::kDetached) {
      if (!g) {
        std::vector<guest::Drive> drives;
        for (const auto& img : plan.images) drives.push_back({img->path(), guest::GuestfsFormat(img->kind()), true});
        ASSIGN_OR_RETURN(g, guest::Handle::Launch(drives));
      }
      spdlog::info("reading the detached header {}", guest::UserFileName(plan.names, v.header_device, v.header_file));
      RETURN_IF_ERROR(g->MountRo(v.header_device, "/"));
      ASSIGN_OR_RETURN(p.header, g->ReadBytes(v.header_file, kMaxDetachedHeaderBytes));
      RETURN_IF_ERROR(g->UmountAll());
      if (v.data_offset != v.header_offset) {
        return InvalidInput(dir + "/manifest.json: volume " + std::to_string(i) +
                            ": a detached header's data_offset must equal header_offset");
      }
    } else {
      const uint64_t n = v.data_offset - v.header_offset;
      if (v.data_offset <= v.header_offset || n > kMaxDetachedHeaderBytes) {
        return InvalidInput(dir + "/manifest.json: volume " + std::to_string(i) + ": header_offset " +
                            std::to_string(v.header_offset) + " and data_offset " + std::to_string(v.data_offset) +
                            " do not frame a LUKS2 header");
      }
      p.header.resize(n);
      RETURN_IF_ERROR(plan.images[p.disk]->ReadAt(v.header_offset, p.header));
    }
    plan.volumes.push_back(std::move(p));
  }
  if (g) RETURN_IF_ERROR(g->Shutdown());
  return plan;
}

Status WriteDiskInOrder(const EncryptedDisks& disks, size_t disk, ImageWriter& out, Progress& progress,
                        const std::function<Status(size_t)>& volume) {
  Image& image = *disks.images[disk];
  std::vector<size_t> order;
  for (size_t i = 0; i < disks.volumes.size(); ++i) {
    if (disks.volumes[i].disk == disk) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return disks.volumes[a].start < disks.volumes[b].start; });
  auto copy = [&](uint64_t from, uint64_t to) -> Status {
    progress.Phase("copy", disks.names[disk]);
    ASSIGN_OR_RETURN(auto stats, CopyRange(image, from, to - from, out, from, progress.JobAdvancer()));
    (void)stats;
    return {};
  };
  uint64_t at = 0;
  for (size_t i : order) {
    const EncryptedVolume& v = disks.volumes[i];
    const uint64_t end = v.data_offset + v.size;
    if (v.start < at || end > image.virtual_size()) {
      return InvalidInput(v.what + ": overlaps another volume or runs past the disk's end");
    }
    if (v.start > at) RETURN_IF_ERROR(copy(at, v.start));
    RETURN_IF_ERROR(volume(i));
    at = std::max(end, v.end);  // a partition's tail past whole sectors stays zero
  }
  if (at < image.virtual_size()) RETURN_IF_ERROR(copy(at, image.virtual_size()));
  return {};
}

Result<std::vector<Extent>> UsedExtentsOfSkippedVolume(const EncryptedDisks& disks, const EncryptedVolume& v,
                                                       std::span<const uint8_t> key, uint32_t sector_size,
                                                       Progress& progress) {
  ASSIGN_OR_RETURN(auto view, DecryptingImage::Open(*disks.images[v.disk], v.data_offset, v.size, key, sector_size));
  ASSIGN_OR_RETURN(UsedBlocks map, MapUsedBlocks(*view, 0, v.size, v.what));
  progress.Advance(v.size - map.used_bytes);  // never read nor written
  return std::move(map.used);
}

}  // namespace vhdcrypt
