#include "src/plan/volumes.h"

#include <algorithm>
#include <set>

#include "src/check/classify.h"

namespace vhdcrypt {
namespace {

std::string Where(const guest::Facts& facts, const guest::Filesystem& fs) {
  return fs.device + " on " + guest::DiskName(facts, fs.disk);
}

}  // namespace

Result<VolumeSelection> SelectDataVolumes(const guest::Facts& facts) {
  VolumeSelection out;
  std::set<const guest::Filesystem*> seen;
  auto take = [&](const guest::Filesystem& fs, const guest::FstabEntry* e, const std::string& mount) -> Status {
    if (fs.on_lvm) {
      return InvalidInput(Where(facts, fs) + (mount.empty() ? "" : " (mounted at " + mount + ")") +
                          " is an LVM logical volume; vhdcrypt cannot encrypt logical volumes in place yet");
    }
    if (!rules::IsSupportedFsType(fs.type)) {
      out.skipped.push_back(Where(facts, fs) + (mount.empty() ? "" : " (" + mount + ")") + " is " +
                            (fs.type.empty() ? "of unknown type" : fs.type) + ": left unencrypted");
      return {};
    }
    if (seen.insert(&fs).second) out.volumes.push_back({&fs, e, mount});
    return {};
  };

  if (facts.os.found) {
    for (const auto& x : rules::Classify(facts, VolumeType::kData)) {
      if (!x.data || x.skip || x.swap) continue;
      if (x.r.how != rules::Resolution::kResolved) {
        out.skipped.push_back("/etc/fstab:" + std::to_string(x.e->line) + " (" + x.e->spec + " on " + x.mount +
                              ") matches no filesystem on the given disks: left alone");
        continue;
      }
      RETURN_IF_ERROR(take(*x.r.fs, x.e, x.mount));
    }
  } else {
    for (const auto& fs : facts.filesystems) {
      if (fs.type == "swap" || fs.type == "crypto_LUKS") continue;
      RETURN_IF_ERROR(take(fs, nullptr, ""));
    }
  }
  std::sort(out.volumes.begin(), out.volumes.end(), [](const DataVolumeChoice& a, const DataVolumeChoice& b) {
    return std::tie(a.fs->disk, a.fs->partition) < std::tie(b.fs->disk, b.fs->partition);
  });
  return out;
}

}  // namespace vhdcrypt
