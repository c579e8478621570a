#include "src/commands/encrypted_dir.h"

#include <spdlog/spdlog.h>

#include "guestfs/handle.h"
#include "guestfs/inspect.h"
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

}  // namespace vhdcrypt
