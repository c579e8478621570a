#include "src/commands/decrypt.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "base/exit_codes.h"
#include "base/strings.h"
#include "formats/output_file.h"
#include "formats/partition_table.h"
#include "formats/writer.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/commands/encrypted_dir.h"
#include "src/crypto/engine.h"
#include "src/crypto/luks.h"
#include "src/crypto/secret.h"
#include "src/guest/luks_scan.h"
#include "src/outdir/manifest.h"
#include "src/outdir/names.h"

namespace vhdcrypt {
namespace {

using DecryptVolume = EncryptedVolume;
using Plan = EncryptedDisks;

Result<std::unique_ptr<Image>> OpenAny(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(path));
  return OpenImage(std::move(file), FormatHint::kAuto);
}

Result<Plan> PlanFromManifest(const std::string& dir) {
  ASSIGN_OR_RETURN(Manifest m, ReadManifest(dir));
  return OpenEncryptedDirectory(dir, m);
}

// Images without a manifest (ADE's, encrypted inside a VM): the appliance
// finds the headers as status does; each volume runs to the end of its
// partition (or disk).
Result<Plan> PlanFromImages(const std::vector<std::string>& paths) {
  Plan plan;
  std::vector<PartitionTable> tables;
  std::vector<guest::Drive> drives;
  for (const std::string& path : paths) {
    ASSIGN_OR_RETURN(auto img, OpenAny(path));
    ASSIGN_OR_RETURN(PartitionTable table, ReadPartitionTable(*img));
    drives.push_back({path, guest::GuestfsFormat(img->kind()), true});
    tables.push_back(std::move(table));
    plan.names.push_back(BaseName(path));
    plan.images.push_back(std::move(img));
  }
  ASSIGN_OR_RETURN(auto g, guest::Handle::Launch(drives));
  ASSIGN_OR_RETURN(LuksScan scan, ScanImages(*g));
  for (const ScannedHeader& h : scan.headers) {
    DecryptVolume p;
    std::string dev = h.device;
    if (!h.file.empty()) {
      ASSIGN_OR_RETURN(dev, DetachedVolumeDevice(*g, scan, guest::ApplianceDiskIndex(h.device)));
      if (dev.empty()) {
        return InvalidInput(h.Describe() +
                            ": a detached LUKS header, but no partition of that disk holds "
                            "ciphertext (every one has a signature)");
      }
    }
    p.disk = static_cast<size_t>(guest::ApplianceDiskIndex(dev));
    if (p.disk >= plan.images.size()) return InvalidInput(h.Describe() + ": not on a disk vhdcrypt added");
    const uint32_t number = static_cast<uint32_t>(guest::AppliancePartitionNumber(dev));
    p.start = 0;
    p.end = plan.images[p.disk]->virtual_size();
    if (number != 0) {
      auto part = std::find_if(tables[p.disk].partitions.begin(), tables[p.disk].partitions.end(),
                               [&](const Partition& x) { return x.number == number; });
      if (part == tables[p.disk].partitions.end()) {
        return InvalidInput(guest::UserDeviceName(plan.names, dev) + ": no such partition in the table");
      }
      p.start = part->start;
      p.end = part->end();
    }
    p.header = h.bytes;
    // Named as the user knows them: "data.vhd partition 1", the header's file
    // by its image and partition too.
    p.what = guest::UserDeviceName(plan.names, dev) +
             (h.file.empty() ? "" : " (header " + guest::UserFileName(plan.names, h.device, h.file) + ")");
    ASSIGN_OR_RETURN(LuksInfo info, InspectLuksHeader(p.header));
    if (info.version != 2) {
      return InvalidInput(p.what + ": a LUKS" + std::to_string(info.version) +
                          " volume; decrypt reads LUKS2 only (cryptsetup convert --type luks2 converts it)");
    }
    if (info.unknown_requirements) {
      return InvalidInput(p.what +
                          ": the LUKS2 header has requirement flags this libcryptsetup does not know; "
                          "it cannot be opened here");
    }
    if (info.reencrypting) {
      return UsageError(p.what +
                        ": its encryption is still in progress (a LUKS2 reencryption was interrupted); "
                        "finish it with cryptsetup first");
    }
    p.data_offset = p.start + info.data_offset;
    if (p.data_offset >= p.end) return InvalidInput(p.what + ": the header's data offset lies past its partition");
    p.size = (p.end - p.data_offset) / info.sector_size * info.sector_size;
    plan.volumes.push_back(std::move(p));
  }
  RETURN_IF_ERROR(g->Shutdown());
  if (plan.volumes.empty()) return InvalidInput("no LUKS2 volume found in the image(s)");
  return plan;
}

Status DecryptDisk(const DecryptCommandOptions& o, const Plan& plan, size_t disk, ImageWriter& out,
                   const std::vector<UnlockedLuks>& unlocked, Progress& progress) {
  return WriteDiskInOrder(plan, disk, out, progress, [&](size_t i) -> Status {
    const DecryptVolume& v = plan.volumes[i];
    progress.Phase("decrypt", v.what);
    VolumeJob job;
    job.source = plan.images[disk].get();
    job.source_offset = v.data_offset;
    job.length = v.size;
    job.out = &out;
    job.out_offset = v.start;  // the plaintext takes the volume's place from its first byte
    job.key = unlocked[i].key.span();
    job.sector_size = unlocked[i].sector_size;
    job.direction = Direction::kDecrypt;
    std::vector<Extent> used;
    if (v.free_space_skipped) {
      // Only the used blocks are decrypted; the rest comes back as zeros.
      ASSIGN_OR_RETURN(used, UsedExtentsOfSkippedVolume(plan, v, job.key, job.sector_size, progress));
      job.only = &used;
    }
    return RunVolumeJob(job, EngineOptions{o.threads}, progress.JobAdvancer());
  });
}

Result<int> Decrypt(const DecryptCommandOptions& o) {
  struct stat st;
  if (::stat(o.source.c_str(), &st) != 0) return IoError(o.source + ": does not exist");
  const bool dir = S_ISDIR(st.st_mode);
  if (dir && !o.data_disks.empty()) {
    return UsageError("--data: only with an IMAGE; an output directory's manifest lists its disks");
  }
  ASSIGN_OR_RETURN(OutputDirectory out_dir, OutputDirectory::Open(o.output_dir));  // destroyed last
  if (const std::string note = out_dir.RemovedNote(); !note.empty()) spdlog::warn("{}", note);
  ASSIGN_OR_RETURN(SecretBytes passphrase, ReadKeyFile(o.key_file));
  std::vector<std::string> paths = {o.source};
  paths.insert(paths.end(), o.data_disks.begin(), o.data_disks.end());
  ASSIGN_OR_RETURN(Plan plan, dir ? PlanFromManifest(o.source) : PlanFromImages(paths));

  std::vector<UnlockedLuks> unlocked;
  for (const DecryptVolume& v : plan.volumes) {
    auto u = UnlockLuksVolume(v.header, passphrase);
    if (!u.ok()) return Error(u.error().kind(), v.what + ": " + u.error().message());
    if (u->cipher != "aes-xts-plain64") {
      return InvalidInput(v.what + ": cipher " + u->cipher + ", vhdcrypt decrypts aes-xts-plain64 only");
    }
    if (u->data_offset != v.data_offset - v.start) {
      return InvalidInput(v.what + ": the header's data offset is " + std::to_string(u->data_offset) + ", expected " +
                          std::to_string(v.data_offset - v.start));
    }
    if (v.size == 0 || v.size % u->sector_size != 0) {
      return InvalidInput(v.what + ": size " + std::to_string(v.size) + " is not a multiple of its " +
                          std::to_string(u->sector_size) + "-byte sectors");
    }
    unlocked.push_back(std::move(*u));
  }
  // What will be read: every byte but the attached headers.
  uint64_t total = 0;
  for (const auto& img : plan.images) total += img->virtual_size();
  for (const auto& v : plan.volumes) total -= std::max(v.data_offset + v.size, v.end) - v.start - v.size;

  ASSIGN_OR_RETURN(WriterOptions writer_options, DefaultWriterOptions());
  Progress progress(o.progress, total);
  // Every output name is taken (under its temporary) before the first byte
  // is decrypted, and all are committed together.
  std::vector<std::unique_ptr<OutputFile>> outputs;
  std::vector<OutputFile*> commit;
  for (size_t d = 0; d < plan.images.size(); ++d) {
    const ContainerKind kind = o.has_to ? o.to : plan.images[d]->kind();
    const std::string name = ImageOutputName(plan.names[d], kind);
    ASSIGN_OR_RETURN(auto out, OutputFile::Create(o.output_dir + "/" + name, o.force, plan.images[d]->path()));
    commit.push_back(out.get());
    outputs.push_back(std::move(out));
  }
  for (size_t d = 0; d < plan.images.size(); ++d) {
    Image& image = *plan.images[d];
    const ContainerKind kind = o.has_to ? o.to : image.kind();
    ASSIGN_OR_RETURN(auto writer, MakeWriter(kind, outputs[d]->file(), ContainerVirtualSize(kind, image.virtual_size()),
                                             writer_options));
    RETURN_IF_ERROR(DecryptDisk(o, plan, d, *writer, unlocked, progress));
    RETURN_IF_ERROR(writer->Finish());
  }
  progress.Phase("commit", "");
  RETURN_IF_ERROR(CommitAll(commit));
  out_dir.Keep();
  progress.Finish();
  for (const auto& v : plan.volumes) spdlog::info("decrypted {} ({} bytes)", v.what, v.size);
  return kExitOk;
}

}  // namespace

Result<int> RunDecrypt(const DecryptCommandOptions& o) {
  HardenProcess();
  return Decrypt(o);
}

}  // namespace vhdcrypt
