// `vhdcrypt deploy`: the run as its stages, in the order Deploy runs them:
//   OpenGolden        the golden's manifest, images and headers; every
//                     volume key unlocked with the golden passphrase
//   NewHeaders        a new volume key and LUKS2 header per volume
//   CreateOutputs     every instance output under its temporary name
//   WriteDisk         per disk: gaps copied, attached headers written,
//                     volumes re-encrypted (golden key -> new key)
//   ReplaceInGuest    the detached OS header in /boot and the initramfs,
//                     and bek.vhd, in one appliance over the new outputs
//   then the instance manifest and the commit of everything together.
#include "src/commands/deploy.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>

#include "base/exit_codes.h"
#include "base/stop_point.h"
#include "base/version.h"
#include "formats/output_file.h"
#include "formats/writer.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/commands/encrypt_stages.h"
#include "src/commands/encrypted_dir.h"
#include "src/commands/progress.h"
#include "src/crypto/digest.h"
#include "src/crypto/engine.h"
#include "src/crypto/luks.h"
#include "src/guest/initramfs_header.h"
#include "src/guest/key_volume.h"
#include "src/outdir/names.h"

namespace vhdcrypt {
namespace {

using encrypt::KeyOutputs;

struct Golden {
  Manifest manifest;
  std::string manifest_sha256;
  EncryptedDisks disks;
  std::vector<UnlockedLuks> unlocked;  // per volume, in the manifest's order
};

// One volume of the instance: its new key and header.
struct NewVolume {
  SecretBytes key;
  LuksHeader header;
};

struct Outputs {
  std::vector<std::unique_ptr<OutputFile>> images;  // per golden disk
  std::vector<std::string> names;                   // their file names in INSTANCE_DIR
  std::vector<ContainerKind> kinds;
  KeyOutputs keys;
  std::unique_ptr<OutputFile> manifest;
};

// The instance's passphrase, its wrapping and its recovery key, before
// anything is read: refused keys and options cost nothing.
struct InstanceSecrets : encrypt::Secrets {
  SecretBytes golden;
};

Result<InstanceSecrets> ReadSecrets(const DeployCommandOptions& o) {
  InstanceSecrets s;
  ASSIGN_OR_RETURN(s.golden, ReadKeyFile(o.golden_key_file));
  ASSIGN_OR_RETURN(static_cast<encrypt::Secrets&>(s), encrypt::ReadOrMakeSecrets(o.instance));
  if (s.passphrase.Equals(s.golden.span())) {
    return UsageError(o.instance.key_file + ": holds the golden passphrase; an instance needs a passphrase of its own");
  }
  return s;
}

// The output directory must not be the golden's: deploy never writes there.
Status CheckDirectories(const DeployCommandOptions& o) {
  struct stat golden {
  }, out{};
  if (::stat(o.golden_dir.c_str(), &golden) != 0 || !S_ISDIR(golden.st_mode)) {
    return UsageError(o.golden_dir + ": not a directory (deploy reads an encrypt output directory)");
  }
  if (::stat(o.instance.output_dir.c_str(), &out) == 0 && out.st_dev == golden.st_dev && out.st_ino == golden.st_ino) {
    return UsageError(o.instance.output_dir + ": is the golden directory; deploy writes an instance elsewhere");
  }
  return {};
}

Result<Golden> OpenGolden(const DeployCommandOptions& o, const SecretBytes& passphrase) {
  Golden g;
  // Hashed as parsed: the digest names exactly the manifest this instance follows.
  ASSIGN_OR_RETURN(std::string text, ReadManifestText(o.golden_dir));
  ASSIGN_OR_RETURN(g.manifest, ManifestFromJson(o.golden_dir + "/manifest.json", text));
  ASSIGN_OR_RETURN(g.manifest_sha256,
                   Sha256Bytes(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
  if (g.manifest.volumes.empty()) return InvalidInput(o.golden_dir + "/manifest.json: lists no volume");
  ASSIGN_OR_RETURN(g.disks, OpenEncryptedDirectory(o.golden_dir, g.manifest));
  for (size_t i = 0; i < g.disks.volumes.size(); ++i) {
    const EncryptedVolume& v = g.disks.volumes[i];
    auto u = UnlockLuksVolume(v.header, passphrase);
    if (!u.ok()) return Error(u.error().kind(), v.what + ": " + u.error().message());
    if (u->cipher != "aes-xts-plain64" || u->sector_size != g.manifest.volumes[i].sector_size ||
        u->data_offset != v.data_offset - v.start) {
      return InvalidInput(v.what + ": its header (" + u->cipher + ", " + std::to_string(u->sector_size) +
                          "-byte sectors, data at " + std::to_string(u->data_offset) +
                          ") does not match the golden's manifest");
    }
    g.unlocked.push_back(std::move(*u));
  }
  return g;
}

// A new key and header per volume: the golden's LUKS UUID (crypttab names
// it), sector size and layout, a key slot for the instance's passphrase and
// one for the recovery key.
Result<std::vector<NewVolume>> NewHeaders(const DeployCommandOptions& o, const Golden& g, const InstanceSecrets& s) {
  ASSIGN_OR_RETURN(LuksOptions luks, CalibrateLuksOptions(o.instance.luks));
  std::vector<NewVolume> out;
  for (size_t i = 0; i < g.disks.volumes.size(); ++i) {
    const ManifestVolume& m = g.manifest.volumes[i];
    const EncryptedVolume& v = g.disks.volumes[i];
    NewVolume n;
    ASSIGN_OR_RETURN(n.key, RandomVolumeKey());
    LuksOptions lo = encrypt::VolumeLuksOptions(luks, m);
    lo.sector_size = g.unlocked[i].sector_size;  // the golden header's, which the data was encrypted with
    ASSIGN_OR_RETURN(n.header, FormatLuksHeader(s.passphrase, n.key, lo));
    if (!s.recovery.empty()) {
      ASSIGN_OR_RETURN(n.header.bytes, AddLuksRecoveryKey(n.header.bytes, n.key, s.recovery, lo));
    }
    const uint64_t golden_offset = v.data_offset - v.start;
    if (n.header.data_offset != golden_offset || (!lo.detached && n.header.bytes.size() != golden_offset)) {
      return IoError(v.what + ": the new header puts the data at " + std::to_string(n.header.data_offset) +
                     " bytes, the golden's at " + std::to_string(golden_offset));
    }
    out.push_back(std::move(n));
  }
  return out;
}

// Every instance output taken under its temporary name before the long part.
Result<Outputs> CreateOutputs(const DeployCommandOptions& o, const Golden& g, const InstanceSecrets& s) {
  const EncryptCommandOptions& in = o.instance;
  Outputs out;
  for (size_t d = 0; d < g.disks.images.size(); ++d) {
    const Image& image = *g.disks.images[d];
    const ContainerKind kind = in.has_to ? in.to : image.kind();
    if (ContainerVirtualSize(kind, image.virtual_size()) != image.virtual_size()) {
      return UsageError("--to " + std::string(ContainerKindName(kind)) + ": " + g.disks.names[d] + " (" +
                        std::to_string(image.virtual_size()) + " bytes) does not fit that container exactly");
    }
    const std::string name = ImageOutputName(g.disks.names[d], kind);
    ASSIGN_OR_RETURN(auto file, OutputFile::Create(in.output_dir + "/" + name, in.force, image.path()));
    out.images.push_back(std::move(file));
    out.names.push_back(name);
    out.kinds.push_back(kind);
  }
  const bool has_os =
      std::any_of(g.manifest.disks.begin(), g.manifest.disks.end(), [](const ManifestDisk& d) { return d.os_disk; });
  ASSIGN_OR_RETURN(out.keys,
                   encrypt::CreateKeyOutputs(in, s.passphrase, s.wrapped, s.recovery, has_os && !in.no_key_volume));
  ASSIGN_OR_RETURN(out.manifest, OutputFile::Create(in.output_dir + "/manifest.json", in.force));
  return out;
}

// One disk of the instance, in order: what lies between volumes copied from
// the golden, each attached header written new, each volume re-encrypted
// from the golden key to its new key (only the used blocks of a volume whose
// free space the golden skipped, found through a decrypting view).
Status WriteDisk(const DeployCommandOptions& o, const Golden& g, size_t disk, const std::vector<NewVolume>& nv,
                 ImageWriter& out, Progress& progress) {
  return WriteDiskInOrder(g.disks, disk, out, progress, [&](size_t i) -> Status {
    const EncryptedVolume& v = g.disks.volumes[i];
    if (v.data_offset > v.start) {
      RETURN_IF_ERROR(out.Write(v.start, nv[i].header.bytes));
      progress.Advance(v.data_offset - v.start);
    }
    progress.Phase("reencrypt", v.what);
    VolumeJob job;
    job.source = g.disks.images[disk].get();
    job.source_offset = v.data_offset;
    job.length = v.size;
    job.out = &out;
    job.out_offset = v.data_offset;
    job.key = nv[i].key.span();
    job.source_key = g.unlocked[i].key.span();
    job.sector_size = g.unlocked[i].sector_size;
    std::vector<Extent> used;
    if (v.free_space_skipped) {
      // Never written in the golden: left unwritten in the instance too.
      ASSIGN_OR_RETURN(used, UsedExtentsOfSkippedVolume(g.disks, v, job.source_key, job.sector_size, progress));
      job.only = &used;
    }
    RETURN_IF_ERROR(RunVolumeJob(job, EngineOptions{o.instance.threads}, progress.JobAdvancer()));
    spdlog::info("{}: new volume key, LUKS2 {}", v.what, nv[i].header.uuid);
    return {};
  });
}

// In one appliance over the new outputs: each detached header replaced in
// its file and in every initramfs image beside it, then read back; bek.vhd
// given its filesystem and the instance's passphrase. Disks without a
// detached header are added read-only.
Status ReplaceInGuest(const Golden& g, const std::vector<NewVolume>& nv, const Outputs& out,
                      const SecretBytes& passphrase) {
  std::vector<size_t> detached;
  for (size_t i = 0; i < g.manifest.volumes.size(); ++i) {
    if (g.manifest.volumes[i].header == HeaderPlacement::kDetached) detached.push_back(i);
  }
  if (detached.empty() && !out.keys.key_volume) return {};
  std::vector<guest::Drive> drives;
  for (size_t d = 0; d < out.images.size(); ++d) {
    const bool holds_header = std::any_of(detached.begin(), detached.end(), [&](size_t i) {
      return guest::ApplianceDiskIndex(g.manifest.volumes[i].header_device) == static_cast<int>(d);
    });
    drives.push_back({out.images[d]->temp_path(), guest::GuestfsFormat(out.kinds[d]), !holds_header});
  }
  if (out.keys.key_volume) drives.push_back({out.keys.key_volume->temp_path(), "vpc", false});
  ASSIGN_OR_RETURN(auto handle, guest::Handle::Launch(drives, /*sensitive=*/true));
  guest::Handle& h = *handle;
  if (out.keys.key_volume) {
    RETURN_IF_ERROR(FillKeyVolume(h, guest::ApplianceDevice(out.images.size()), passphrase));
  }
  for (size_t i : detached) {
    const ManifestVolume& m = g.manifest.volumes[i];
    const std::vector<uint8_t>& header = nv[i].header.bytes;
    const std::string where = guest::UserFileName(g.disks.names, m.header_device, m.header_file);
    ASSIGN_OR_RETURN(size_t images, ReplaceDetachedHeader(h, m.header_device, m.header_file, header, where));
    spdlog::info("{}: the new detached header, also in {} initramfs image(s)", where, images);
  }
  return h.Shutdown();
}

// The golden's manifest, for the instance: its outputs, the new key slots'
// PBKDF, who holds the passphrase, and the golden it came from.
Manifest InstanceManifest(const DeployCommandOptions& o, const Golden& g, const Outputs& out) {
  Manifest m = g.manifest;
  m.tool = kToolName;
  m.passphrase_file = out.keys.passphrase ? "passphrase" : "";
  for (size_t d = 0; d < m.disks.size(); ++d) {
    m.disks[d].output = out.names[d];
    m.disks[d].output_format = out.kinds[d];
  }
  for (ManifestVolume& v : m.volumes) v.pbkdf = PbkdfName(o.instance.luks.pbkdf);
  m.golden = ManifestGolden{g.manifest_sha256, o.golden_dir};
  return m;
}

Result<int> Deploy(const DeployCommandOptions& o) {
  const EncryptCommandOptions& in = o.instance;
  RETURN_IF_ERROR(CheckDirectories(o));
  ASSIGN_OR_RETURN(InstanceSecrets secrets, ReadSecrets(o));
  ASSIGN_OR_RETURN(OutputDirectory out_dir, OutputDirectory::Open(in.output_dir));  // destroyed last
  if (const std::string note = out_dir.RemovedNote(); !note.empty()) spdlog::warn("{}", note);
  RETURN_IF_ERROR(CheckDirectories(o));  // a symlink made meanwhile
  ASSIGN_OR_RETURN(Golden g, OpenGolden(o, secrets.golden));
  ASSIGN_OR_RETURN(std::vector<NewVolume> nv, NewHeaders(o, g, secrets));
  ASSIGN_OR_RETURN(Outputs out, CreateOutputs(o, g, secrets));
  StopPointForTests("outputs-created");

  const auto start = std::chrono::steady_clock::now();
  uint64_t total = 0;
  for (const auto& image : g.disks.images) total += image->virtual_size();
  ASSIGN_OR_RETURN(WriterOptions writer_options, DefaultWriterOptions());
  Progress progress(in.progress, total);
  for (size_t d = 0; d < g.disks.images.size(); ++d) {
    ASSIGN_OR_RETURN(auto writer, MakeWriter(out.kinds[d], out.images[d]->file(), g.disks.images[d]->virtual_size(),
                                             writer_options));
    RETURN_IF_ERROR(WriteDisk(o, g, d, nv, *writer, progress));
    RETURN_IF_ERROR(writer->Finish());
  }
  progress.Phase("guest-config", "");
  RETURN_IF_ERROR(ReplaceInGuest(g, nv, out, secrets.passphrase));
  for (auto& image : out.images) RETURN_IF_ERROR(image->file().Sync());
  StopPointForTests("images-written");

  const std::string json = ManifestToJson(InstanceManifest(o, g, out));
  RETURN_IF_ERROR(
      WriteFull(out.manifest->file(), 0, std::span(reinterpret_cast<const uint8_t*>(json.data()), json.size())));
  // As encrypt: the keys first, then the images, the manifest last.
  std::vector<OutputFile*> commit = out.keys.Files();
  for (auto& image : out.images) commit.push_back(image.get());
  commit.push_back(out.manifest.get());
  progress.Phase("commit", "");
  RETURN_IF_ERROR(CommitAll(commit));
  out_dir.Keep();
  progress.Finish();
  spdlog::info("deployed {} disk(s), {} volume(s) with new volume keys in {:.1f}s{}", out.images.size(), nv.size(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), out.keys.Describe(in));
  return kExitOk;
}

}  // namespace

Result<int> RunDeploy(const DeployCommandOptions& o) {
  HardenProcess();
  return Deploy(o);
}

}  // namespace vhdcrypt
