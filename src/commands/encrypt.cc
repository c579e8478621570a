// `vhdcrypt encrypt`: the run as its stages (encrypt_stages.h says what each
// does and where it lives).
#include "src/commands/encrypt.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "base/exit_codes.h"
#include "base/stop_point.h"
#include "src/commands/encrypt_stages.h"
#include "src/commands/verify.h"
#include "src/crypto/kek.h"
#include "src/crypto/luks.h"
#include "src/outdir/names.h"

namespace vhdcrypt {
namespace {

using namespace encrypt;

// Refused before anything is read: options that contradict each other.
Status RefuseContradictions(const EncryptCommandOptions& o) {
  if (o.rules.volume_type != VolumeType::kData && o.data_only) {
    return UsageError("--data-only cannot encrypt the OS volume; use --volume-type data");
  }
  if (o.os_header == HeaderPlacement::kAttached && o.rules.volume_type == VolumeType::kData) {
    return UsageError(
        "--os-header attached places the OS volume's header, but --volume-type data leaves the OS "
        "volume plaintext; use --volume-type os or all");
  }
  return {};
}

// Every output name claimed (temporary names in DIR) before the long part,
// so a clash fails now.
Status CreateImageOutputs(const EncryptCommandOptions& o, Plan& plan) {
  for (Disk& d : plan.disks) {
    ASSIGN_OR_RETURN(d.out, OutputFile::Create(o.output_dir + "/" + d.out_name, o.force, d.input));
    if (d.work_kind != d.out_kind) {
      // Only its temporary name is ever used (it is never committed).
      ASSIGN_OR_RETURN(d.work, OutputFile::Create(o.output_dir + "/" + d.out_name + ".raw", true, d.input));
    }
  }
  return {};
}

// Writes every byte of every output under its temporary name.
Status WriteOutputs(const EncryptCommandOptions& o, const Inputs& in, Plan& plan, const SecretBytes& passphrase,
                    const SecretBytes& recovery, OutputFile* key_volume) {
  std::mutex write_lock;
  struct DropWriters {  // before the lock they hold, whatever happens
    Plan& plan;
    ~DropWriters() {
      for (Disk& d : plan.disks) d.writer.reset();
    }
  } drop_writers{plan};
  Progress progress(o.progress, ProgressTotal(plan));
  ASSIGN_OR_RETURN(auto writer_options, DefaultWriterOptions());
  RETURN_IF_ERROR(OpenWriters(plan, write_lock, writer_options));
  ASSIGN_OR_RETURN(std::vector<SecretBytes> keys, MakeVolumeKeys(plan));
  std::vector<uint8_t> os_header;
  RETURN_IF_ERROR(WriteData(o, plan, keys, passphrase, recovery, progress, &os_header));
  if (in.has_os) {
    progress.Phase("guest-config", o.image);
    RETURN_IF_ERROR(EditGuest(in, plan, os_header.empty() ? nullptr : &os_header, key_volume, passphrase));
  }
  RETURN_IF_ERROR(EncryptOsVolume(o, plan, keys, progress));
  RETURN_IF_ERROR(ConvertWorkFiles(plan, writer_options, progress));
  progress.Finish();
  return {};
}

void LogResult(const EncryptCommandOptions& o, const Plan& plan, const KeyOutputs& keys, double secs) {
  for (const Volume& v : plan.volumes) {
    spdlog::info("{}: {} -> LUKS2 {} ({}-byte sectors) in {}/{}", v.m.device,
                 v.m.mountpoint.empty() ? v.m.filesystem : v.m.mountpoint, v.m.luks_uuid, v.m.sector_size, o.output_dir,
                 plan.disks[v.m.disk].out_name);
  }
  spdlog::info("wrote {} disk(s), {} volume(s) in {:.1f}s{}", plan.disks.size(), plan.volumes.size(), secs,
               keys.Describe(o));
}

}  // namespace

Result<int> RunEncrypt(const EncryptCommandOptions& o) {
  HardenProcess();
  ASSIGN_OR_RETURN(OutputDirectory out_dir, OutputDirectory::Open(o.output_dir));  // destroyed last
  if (const std::string note = out_dir.RemovedNote(); !note.empty()) spdlog::warn("{}", note);
  RETURN_IF_ERROR(RefuseContradictions(o));
  ASSIGN_OR_RETURN(Secrets secrets, ReadOrMakeSecrets(o));
  const SecretBytes& passphrase = secrets.passphrase;
  const SecretBytes& recovery = secrets.recovery;

  ASSIGN_OR_RETURN(Inputs in, ReadInputs(o));
  RETURN_IF_ERROR(GateOnFindings(o, in));
  ASSIGN_OR_RETURN(std::vector<Volume> volumes, PlanVolumes(o, in));
  ASSIGN_OR_RETURN(Plan plan, PlanDisks(o, in, std::move(volumes)));

  RETURN_IF_ERROR(CreateImageOutputs(o, plan));
  ASSIGN_OR_RETURN(KeyOutputs keys,
                   CreateKeyOutputs(o, passphrase, secrets.wrapped, recovery, in.has_os && !o.no_key_volume));
  ASSIGN_OR_RETURN(auto manifest_out, OutputFile::Create(o.output_dir + "/manifest.json", o.force));
  StopPointForTests("outputs-created");

  InputHasher hasher(in.paths, o.no_input_hash);  // reads the inputs again while they are encrypted
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(WriteOutputs(o, in, plan, passphrase, recovery, keys.key_volume.get()));
  // Flushed while the hash may still run: their fsync then overlaps it
  // instead of following it (Commit's own fsync finds nothing left to write).
  for (Disk& d : plan.disks) RETURN_IF_ERROR(d.out->file().Sync());
  StopPointForTests("images-written");

  ASSIGN_OR_RETURN(auto sums, hasher.Get());
  const std::string json = ManifestToJson(MakeManifest(in, plan, keys, sums));
  RETURN_IF_ERROR(
      WriteFull(manifest_out->file(), 0, std::span(reinterpret_cast<const uint8_t*>(json.data()), json.size())));
  // All or nothing: the keys first (an image is never there without the key
  // that opens it), then the images, the manifest last (a manifest means a
  // complete run); a failed rename undoes the ones before it.
  std::vector<OutputFile*> outputs = keys.Files();
  for (Disk& d : plan.disks) outputs.push_back(d.out.get());
  outputs.push_back(manifest_out.get());
  StopPointForTests("commit");
  RETURN_IF_ERROR(CommitAll(outputs));
  out_dir.Keep();
  LogResult(o, plan, keys, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (o.verify) return VerifyDirectory(o.output_dir, passphrase, in.paths);
  return kExitOk;
}

}  // namespace vhdcrypt
