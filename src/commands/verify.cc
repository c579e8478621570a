#include "src/commands/verify.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "base/exit_codes.h"
#include "base/strings.h"
#include "formats/image.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/crypto/digest.h"
#include "src/fsmap/used_blocks.h"
#include "src/outdir/manifest.h"

namespace vhdcrypt {
namespace {

// The filesystem check of a decrypted device: "" when clean. `what` names it
// for the user ("the decrypted volume", "logical volume /dev/vg0/root"): the
// appliance's mapping names mean nothing outside it.
Result<std::string> CheckFilesystem(guest::Handle& g, const std::string& dev, const std::string& fstype,
                                    const std::string& what) {
  if (fstype == "xfs") {
    ASSIGN_OR_RETURN(int rc, g.XfsCheck(dev));
    if (rc != 0) return "xfs_repair -n found problems in " + what;
  } else if (fstype.rfind("ext", 0) == 0) {
    // Forced: a filesystem marked clean is read through all the same.
    if (Status checked = g.E2fsckForced(dev); !checked.ok()) {
      std::string said = Trim(checked.error().message());
      std::replace(said.begin(), said.end(), '\n', ' ');
      return "e2fsck -f found errors in " + what + " (" + said + ")";
    }
  } else {
    ASSIGN_OR_RETURN(std::string type, g.VfsType(dev));
    if (type != fstype) return what + " holds '" + type + "', expected " + fstype;
  }
  return std::string();
}

constexpr char kDecrypted[] = "the decrypted volume";

// A volume encrypted with --skip-free-space against its source: the blocks
// the source's filesystem uses, read back through dm-crypt, equal the
// source's (its free blocks decrypt to noise no reader looks at). Work is
// the used bytes, not the volume. "" when equal, else the first difference.
Result<std::string> CompareUsedBlocks(guest::Handle& g, const std::string& mapped, const ManifestVolume& v,
                                      Image& source, const std::string& what) {
  ASSIGN_OR_RETURN(UsedBlocks map, MapUsedBlocks(source, v.source_offset, v.size, what));
  constexpr uint64_t kStep = 4 << 20;
  std::vector<uint8_t> want;
  for (const Extent& e : map.used) {
    for (uint64_t at = e.offset; at < e.offset + e.length; at += kStep) {
      const uint64_t n = std::min(kStep, e.offset + e.length - at);
      ASSIGN_OR_RETURN(std::vector<uint8_t> got, g.PreadDevice(mapped, n, at));
      want.resize(n);
      RETURN_IF_ERROR(source.ReadAt(v.source_offset + at, want));
      if (got != want) {
        const auto diff = std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin();
        return "used byte " + std::to_string(at + static_cast<uint64_t>(diff)) +
               " of the volume differs from the source's";
      }
    }
  }
  return std::string();
}

// A decrypted LVM physical volume: its volume group activates and every
// logical volume on it holding ext2/3/4 or XFS checks clean.
// The logical volumes of the volume group on the physical volume `pv`, each
// filesystem checked. Runs with the volume groups active.
Result<std::string> CheckVolumeGroupOf(guest::Handle& g, const std::string& pv) {
  ASSIGN_OR_RETURN(std::string uuid, g.PvUuid(pv));
  ASSIGN_OR_RETURN(auto vgs, g.Vgs());
  std::string vg;
  for (const std::string& name : vgs) {
    ASSIGN_OR_RETURN(auto members, g.VgPvUuids(name));
    if (std::find(members.begin(), members.end(), uuid) != members.end()) vg = name;
  }
  if (vg.empty()) return std::string("no volume group appeared on ") + kDecrypted;
  ASSIGN_OR_RETURN(auto all, g.Lvs());
  const std::string prefix = "/dev/" + vg + "/";
  size_t checked = 0;
  for (const std::string& lv : all) {
    if (lv.rfind(prefix, 0) != 0) continue;
    ++checked;
    ASSIGN_OR_RETURN(std::string fstype, g.VfsType(lv));
    if (fstype != "xfs" && fstype.rfind("ext", 0) != 0) continue;
    ASSIGN_OR_RETURN(std::string problem, CheckFilesystem(g, lv, fstype, "logical volume " + lv));
    if (!problem.empty()) return problem;
  }
  if (checked == 0) return "no logical volume appeared in volume group " + vg;
  return std::string();
}

Result<std::string> CheckPhysicalVolume(guest::Handle& g, const std::string& dev) {
  ASSIGN_OR_RETURN(std::string type, g.VfsType(dev));
  if (type != "LVM2_member") return std::string(kDecrypted) + " holds '" + type + "', expected an LVM physical volume";
  RETURN_IF_ERROR(g.ActivateVolumeGroups(true));
  // Deactivated whatever the check found, so the mapping can be closed.
  Result<std::string> problem = CheckVolumeGroupOf(g, dev);
  Status off = g.ActivateVolumeGroups(false);
  if (problem.ok()) RETURN_IF_ERROR(off);
  return problem;
}

// The lines the appliance kernel logged after its first 'skip' bytes of
// messages that mention device-mapper or dm-crypt, as "; kernel: ...":
// why a table was refused (empty when it said nothing).
std::string KernelHint(guest::Handle& g, size_t skip) {
  Result<std::string> log = g.KernelLog();
  if (!log.ok() || log->size() <= skip) return "";
  std::string hint;
  size_t start = skip;
  while (start < log->size()) {
    size_t end = log->find('\n', start);
    if (end == std::string::npos) end = log->size();
    const std::string line = log->substr(start, end - start);
    if (line.find("device-mapper") != std::string::npos || line.find("crypt") != std::string::npos) {
      hint += "; kernel: " + line;
    }
    start = end + 1;
  }
  return hint;
}

// What VerifyVolume found: a problem, or (when none) what it proved.
struct VolumeOutcome {
  std::string problem;
  std::string proved;  // "decrypts to the source partition (sha256)", ...
};

// One volume: unlock, compare or check, lock again.
Result<VolumeOutcome> VerifyVolume(guest::Handle& g, const ManifestVolume& v, size_t index, const char* key,
                                   Image* against, const std::string& what) {
  const std::string dev = guest::ApplianceDevice(v.disk, v.partition);
  const std::string map = "vhdcrypt-verify-" + std::to_string(index);
  // fsck wants a writable device even when it finds nothing to fix. The
  // drives are added read-only, so libguestfs puts a throwaway overlay under
  // them: a writable mapping still never writes to the image.
  // The OS volume was edited (fstab, crypttab, initramfs) before it was
  // encrypted, so it no longer equals its source: its filesystem is checked.
  const bool detached = v.header == HeaderPlacement::kDetached;
  if (v.os()) against = nullptr;
  // A volume whose free space was skipped is compared on its used blocks and
  // then checked: its mapping is writable for fsck.
  const bool skipped = v.free_space == FreeSpace::kSkipped;
  const bool writable = against == nullptr || skipped;
  Result<std::string> log_before = g.KernelLog();
  const size_t log_seen = log_before.ok() ? log_before->size() : 0;
  Status opened = detached ? g.CryptsetupOpenDetached(dev, v.header_device, v.header_file, key, map, !writable)
                           : g.CryptsetupOpen(dev, key, map, !writable);
  VolumeOutcome out;
  if (!opened.ok()) {
    std::string message = opened.error().message();
    while (!message.empty() && message.back() == '\n') message.pop_back();
    out.problem = "cannot be unlocked (" + message + KernelHint(g, log_seen) + ")";
    return out;
  }
  const std::string mapped = "/dev/mapper/" + map;
  std::string& problem = out.problem;
  ASSIGN_OR_RETURN(uint64_t size, g.DeviceSize(mapped));
  if (size != v.size) {
    problem = "unlocked size " + std::to_string(size) + " differs from the plaintext size " + std::to_string(v.size);
  } else if (against != nullptr && skipped) {
    ASSIGN_OR_RETURN(problem, CompareUsedBlocks(g, mapped, v, *against, what));
    if (problem.empty()) {
      ASSIGN_OR_RETURN(problem, CheckFilesystem(g, mapped, v.filesystem, kDecrypted));
    }
    out.proved = "its used blocks decrypt to the source's, and to a clean " + v.filesystem;
  } else if (against != nullptr) {
    ASSIGN_OR_RETURN(std::string want, Sha256Range(*against, v.source_offset, v.size));
    ASSIGN_OR_RETURN(std::string got, g.ChecksumDevice("sha256", mapped));
    if (got != want) problem = "decrypted sha256 " + got + " differs from the source's " + want;
    out.proved = "decrypts to the source partition (sha256)";
  } else if (v.filesystem == "LVM2_member") {
    ASSIGN_OR_RETURN(problem, CheckPhysicalVolume(g, mapped));
    out.proved = "decrypts to an LVM physical volume whose logical volumes check clean";
  } else {
    ASSIGN_OR_RETURN(problem, CheckFilesystem(g, mapped, v.filesystem, kDecrypted));
    out.proved = "decrypts to a clean " + v.filesystem;
  }
  RETURN_IF_ERROR(g.CryptsetupClose(map));
  return out;
}

}  // namespace

Result<int> VerifyDirectory(const std::string& dir, const SecretBytes& passphrase,
                            const std::vector<std::string>& against) {
  const std::string path = dir + "/manifest.json";
  ASSIGN_OR_RETURN(Manifest m, ReadManifest(dir));
  if (!against.empty() && against.size() != m.disks.size()) {
    return UsageError("--against: " + std::to_string(against.size()) + " image(s) given, but " + path + " lists " +
                      std::to_string(m.disks.size()) + " disk(s); give them in the same order");
  }
  SecretBytes key(passphrase.size() + 1);
  std::memcpy(key.data(), passphrase.data(), passphrase.size());

  std::vector<std::unique_ptr<Image>> sources;
  for (size_t i = 0; i < against.size(); ++i) {
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(against[i]));
    ASSIGN_OR_RETURN(auto img, OpenImage(std::move(file), FormatHint::kAuto));
    if (img->virtual_size() != m.disks[i].input_virtual_size) {
      return UsageError(against[i] + ": is " + std::to_string(img->virtual_size()) + " bytes, but disk " +
                        std::to_string(i) + " of " + path + " (" + m.disks[i].input + ") was " +
                        std::to_string(m.disks[i].input_virtual_size));
    }
    sources.push_back(std::move(img));
  }
  std::vector<guest::Drive> drives;
  for (const auto& d : m.disks) {
    drives.push_back({dir + "/" + d.output, guest::GuestfsFormat(d.output_format), true});
  }
  ASSIGN_OR_RETURN(auto g, guest::Handle::Launch(drives, /*sensitive=*/true));
  // Loaded up front rather than on demand by the first table load, so a
  // module that cannot load is reported as such.
  if (Status loaded = g->Modprobe("dm_crypt"); !loaded.ok()) {
    spdlog::warn("the appliance could not load dm_crypt: {}", loaded.error().message());
  }
  std::vector<std::string> outputs;
  for (const auto& d : m.disks) outputs.push_back(d.output);
  int bad = 0;
  for (size_t i = 0; i < m.volumes.size(); ++i) {
    const ManifestVolume& v = m.volumes[i];
    Image* source = sources.empty() ? nullptr : sources[v.disk].get();
    const std::string what = DescribeVolume(v, m.disks[v.disk]);
    ASSIGN_OR_RETURN(VolumeOutcome outcome,
                     VerifyVolume(*g, v, i, reinterpret_cast<const char*>(key.data()), source, what));
    if (outcome.problem.empty()) {
      std::cout << "ok      " << what << ": " << outcome.proved
                << (v.header == HeaderPlacement::kDetached
                        ? " (header detached: " + guest::UserFileName(outputs, v.header_device, v.header_file) + ")"
                        : "")
                << "\n";
    } else {
      ++bad;
      std::cout << "FAILED  " << what << ": " << outcome.problem << "\n";
    }
  }
  RETURN_IF_ERROR(g->Shutdown());
  std::cout << m.volumes.size() - bad << " of " << m.volumes.size() << " volume(s) verified\n";
  return bad == 0 ? kExitOk : kExitFindings;
}

Result<int> RunVerify(const VerifyCommandOptions& o) {
  HardenProcess();
  ASSIGN_OR_RETURN(const SecretBytes passphrase, ReadKeyFile(o.key_file));
  return VerifyDirectory(o.dir, passphrase, o.against);
}

}  // namespace vhdcrypt
