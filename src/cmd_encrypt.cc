#include "src/cmd_encrypt.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

#include "formats/copy.h"
#include "formats/gpt.h"
#include "formats/guid.h"
#include "formats/mbr.h"
#include "formats/output_file.h"
#include "formats/partition_table.h"
#include "formats/writer.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/check_report.h"
#include "src/cmd_verify.h"
#include "src/digest.h"
#include "src/engine.h"
#include "src/exit_codes.h"
#include "src/fs_probe.h"
#include "src/guest_config.h"
#include "src/layout.h"
#include "src/manifest.h"
#include "src/report.h"
#include "src/secret.h"
#include "src/volumes.h"

namespace vhdcrypt {
namespace {

// LUKS2's default header (two 16 KiB metadata copies and the keyslots area)
// with libcryptsetup's default 1 MiB alignment: the data segment starts 16 MiB
// into the partition, as after a plain `cryptsetup luksFormat`.
constexpr uint64_t kHeaderBytes = 16 * 1024 * 1024;

struct Disk {
  std::string input;
  std::unique_ptr<Image> image;
  PartitionTable table;
  std::array<uint8_t, kSectorSize> sector0{};
  std::vector<size_t> volumes;  // indices into the volume list
  DiskLayout layout;
  ContainerKind out_kind = ContainerKind::kRaw;
  std::string out_name;
  std::unique_ptr<OutputFile> out;
  std::unique_ptr<ImageWriter> writer;  // a LockedWriter over out
};

struct Volume {
  DataVolumeChoice choice;
  ManifestVolume m;
  bool os = false;  // the OS volume: header detached, encrypted in place after the guest edits
};

std::string BaseName(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// disk.vhd -> disk.vhd / disk.raw; the container decides the extension.
std::string OutputName(const std::string& input, ContainerKind kind) {
  std::string stem = BaseName(input);
  const auto dot = stem.rfind('.');
  if (dot != std::string::npos && dot > 0) stem.resize(dot);
  return stem + (kind == ContainerKind::kRaw ? ".raw" : ".vhd");
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

Status CheckOutputDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return UsageError(dir + ": output directory does not exist");
  if (!S_ISDIR(st.st_mode)) return UsageError(dir + ": is not a directory");
  return {};
}

// Opens each disk again through formats/ (CollectFacts validated them) and
// lays it out around its volumes.
Status PlanDisks(const EncryptCommandOptions& o, std::vector<Volume>& volumes,
                 std::vector<Disk>& disks) {
  std::vector<std::string> inputs = {o.image};
  inputs.insert(inputs.end(), o.data_disks.begin(), o.data_disks.end());
  std::set<std::string> names;
  for (size_t d = 0; d < inputs.size(); ++d) {
    Disk disk;
    disk.input = inputs[d];
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(disk.input));
    ASSIGN_OR_RETURN(disk.image, OpenImage(std::move(file), d == 0 ? o.format : FormatHint::kAuto));
    ASSIGN_OR_RETURN(disk.table, ReadPartitionTable(*disk.image));
    RETURN_IF_ERROR(disk.image->ReadAt(0, disk.sector0));
    disk.out_kind = o.has_to ? o.to : disk.image->kind();
    disk.out_name = OutputName(disk.input, disk.out_kind);
    if (!names.insert(disk.out_name).second) {
      return UsageError(disk.input + ": its output name " + disk.out_name +
                        " is already taken by another input; rename one of them");
    }
    disks.push_back(std::move(disk));
  }
  for (size_t i = 0; i < volumes.size(); ++i) {
    Volume& v = volumes[i];
    const guest::Filesystem& fs = *v.choice.fs;
    Disk& disk = disks.at(fs.disk);
    uint64_t offset = 0, size = disk.image->virtual_size();
    if (fs.partition != 0) {
      auto it = std::find_if(disk.table.partitions.begin(), disk.table.partitions.end(),
                             [&](const Partition& p) { return p.number == static_cast<uint32_t>(fs.partition); });
      if (it == disk.table.partitions.end()) {
        return InvalidInput(disk.input + ": the appliance saw " + fs.device + " but the partition table has no partition " +
                            std::to_string(fs.partition));
      }
      offset = it->start;
      size = it->size;
    } else if (disk.table.kind != TableKind::kNone) {
      return InvalidInput(disk.input + ": " + fs.device + " is not a partition of its partitioned disk");
    }
    ASSIGN_OR_RETURN(FsProbe probe, ProbeFilesystem(*disk.image, offset, size));
    uint32_t sector = o.sector_size != 0 ? o.sector_size : ChooseSectorSize(probe, size);
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
  }
  for (Disk& disk : disks) {
    std::vector<VolumeRequest> requests;
    for (size_t i : disk.volumes) {
      requests.push_back({volumes[i].m.partition, volumes[i].os ? 0 : kHeaderBytes});
    }
    ASSIGN_OR_RETURN(disk.layout, PlanDiskLayout(disk.input, disk.table, disk.sector0, disk.image->virtual_size(),
                                                 requests, disk.out_kind));
    for (size_t k = 0; k < disk.volumes.size(); ++k) {
      ManifestVolume& m = volumes[disk.volumes[k]].m;
      m.header_offset = disk.layout.volumes[k].header_offset;
      m.data_offset = disk.layout.volumes[k].data_offset;
    }
  }
  return {};
}

// A version 4 UUID in the lowercase form LUKS headers and blkid use.
std::string RandomLuksUuid() {
  std::string text = RandomGuid().ToString();
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

Result<SecretBytes> VolumeKey() {
  for (;;) {
    ASSIGN_OR_RETURN(SecretBytes key, RandomSecret(kLuksKeyBytes));
    // XTS refuses equal halves; with 256 random bits each this never repeats,
    // but the check costs nothing.
    if (CRYPTO_memcmp(key.data(), key.data() + kLuksKeyBytes / 2, kLuksKeyBytes / 2) != 0) return key;
  }
}

// The engine (on the main thread) and the header task write to the same
// outputs; writers are not thread-safe, so every write takes one lock.
class LockedWriter : public ImageWriter {
 public:
  LockedWriter(std::unique_ptr<ImageWriter> inner, std::mutex& mu) : inner_(std::move(inner)), mu_(mu) {}
  uint64_t virtual_size() const override { return inner_->virtual_size(); }
  Status Write(uint64_t offset, std::span<const uint8_t> data) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_->Write(offset, data);
  }
  Status Finish() override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_->Finish();
  }

 private:
  std::unique_ptr<ImageWriter> inner_;
  std::mutex& mu_;
};

// Copies and encrypts the disk's segments; the LUKS headers and the
// partition table are written separately.
Status WriteDiskData(const EncryptCommandOptions& o, Disk& disk, std::vector<Volume>& volumes,
                     const std::vector<SecretBytes>& keys, Progress& progress) {
  for (const Segment& s : disk.layout.segments) {
    if (s.volume < 0) {
      progress.Phase("copy", disk.input);
      uint64_t last = 0;
      ASSIGN_OR_RETURN(auto stats, CopyRange(*disk.image, s.source_offset, s.length, *disk.writer, s.out_offset,
                                             [&](uint64_t done, uint64_t) {
                                               progress.Advance(done - last);
                                               last = done;
                                             }));
      (void)stats;
      continue;
    }
    const size_t index = disk.volumes[s.volume];
    const Volume& v = volumes[index];
    progress.Phase("encrypt", v.m.device + (v.m.mountpoint.empty() ? "" : " (" + v.m.mountpoint + ")"));
    VolumeJob job;
    job.source = disk.image.get();
    job.source_offset = s.source_offset;
    job.length = s.length;
    job.out = disk.writer.get();
    job.out_offset = s.out_offset;
    job.key = keys[index].span();
    job.sector_size = v.m.sector_size;
    uint64_t last = 0;
    RETURN_IF_ERROR(RunVolumeJob(job, EngineOptions{o.threads}, [&](uint64_t done, uint64_t) {
      progress.Advance(done - last);
      last = done;
    }));
  }
  return {};
}

// The key slots: one PBKDF benchmark for the run, then a header per volume
// with the calibrated costs, each written in place as soon as it is made.
// Runs beside the bulk encryption, which does not need the headers: the
// engine works from the volume keys.
Status WriteHeaders(const EncryptCommandOptions& o, std::vector<Disk>& disks, const std::vector<Volume>& volumes,
                    const std::vector<SecretBytes>& keys, const SecretBytes& passphrase,
                    const std::atomic<bool>& stop) {
  ASSIGN_OR_RETURN(LuksOptions luks, CalibrateLuksOptions(o.luks));
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (stop) return IoError("LUKS header creation cancelled");
    const ManifestVolume& m = volumes[i].m;
    LuksOptions lo = luks;
    lo.sector_size = m.sector_size;
    lo.uuid = m.luks_uuid;
    ASSIGN_OR_RETURN(LuksHeader header, FormatLuksHeader(passphrase, keys[i], lo));
    if (header.data_offset != kHeaderBytes || header.uuid != m.luks_uuid) {
      return IoError("libcryptsetup made the header of " + m.device + " with its data segment at " +
                     std::to_string(header.data_offset) + " bytes and UUID " + header.uuid + "; expected " +
                     std::to_string(kHeaderBytes) + " and " + m.luks_uuid);
    }
    RETURN_IF_ERROR(disks[m.disk].writer->Write(m.header_offset, header.bytes));
    spdlog::debug("{}: LUKS2 header {} written", m.device, m.luks_uuid);
  }
  return {};
}

// fstab lines of the encrypted volumes now name their /dev/mapper devices;
// crypttab opens them at boot.
Status EditGuest(const guest::Facts& facts, const Disk& os_disk, const std::vector<Volume>& volumes) {
  std::map<int, std::string> specs;
  std::vector<CrypttabVolume> crypt;
  for (const Volume& v : volumes) {
    if (v.choice.fstab == nullptr) continue;
    specs[v.choice.fstab->line] = "/dev/mapper/" + v.m.mapper_name;
    crypt.push_back({v.m.mapper_name, v.m.luks_uuid, "none", "luks,nofail"});
  }
  if (crypt.empty()) return {};
  ASSIGN_OR_RETURN(auto g, guest::Handle::Launch(
                               {{os_disk.out->temp_path(), guest::GuestfsFormat(os_disk.out_kind), false}}));
  RETURN_IF_ERROR(g->Mount(facts.os.root, "/"));
  ASSIGN_OR_RETURN(auto fstab, g->ReadLines("/etc/fstab"));
  RETURN_IF_ERROR(g->Write("/etc/fstab", JoinLines(RewriteFstab(fstab, specs))));
  std::vector<std::string> crypttab;
  ASSIGN_OR_RETURN(bool has_crypttab, g->Exists("/etc/crypttab"));
  if (has_crypttab) {
    ASSIGN_OR_RETURN(crypttab, g->ReadLines("/etc/crypttab"));
  }
  RETURN_IF_ERROR(g->Write("/etc/crypttab", ComposeCrypttab(crypttab, crypt)));
  RETURN_IF_ERROR(g->UmountAll());
  return g->Shutdown();
}

Result<int> Encrypt(const EncryptCommandOptions& o) {
  HardenProcess();
  if (o.rules.volume_type != VolumeType::kData) {
    return UsageError("--volume-type " + std::string(o.rules.volume_type == VolumeType::kOs ? "os" : "all") +
                      ": encrypting the OS volume is not available yet; use --volume-type data");
  }
  RETURN_IF_ERROR(CheckOutputDir(o.output_dir));
  SecretBytes passphrase;
  if (!o.key_file.empty()) {
    ASSIGN_OR_RETURN(passphrase, ReadKeyFile(o.key_file));
  } else {
    ASSIGN_OR_RETURN(passphrase, GeneratePassphrase());
  }

  std::vector<std::string> inputs = {o.image};
  inputs.insert(inputs.end(), o.data_disks.begin(), o.data_disks.end());
  guest::Facts facts;
  if (o.data_only) {
    ASSIGN_OR_RETURN(facts, ProbeDataDisks(inputs, o.format));
  } else {
    ASSIGN_OR_RETURN(facts, guest::CollectFacts({o.image, o.format, o.data_disks}));
  }
  const bool data_only = !facts.os.found;
  if (data_only) {
    if (!o.data_only) {
      spdlog::info("{}: no operating system found; encrypting every filesystem on the given disks", o.image);
    }
  } else {
    const auto findings = RunRules(facts, o.rules);
    const bool errors = std::any_of(findings.begin(), findings.end(),
                                    [](const Finding& f) { return f.severity == Severity::kError; });
    if (errors) {
      std::cerr << CheckText(facts, findings);
      if (!o.force) {
        spdlog::error("{}: check found errors; fix them, or pass --force to encrypt anyway", o.image);
        return kExitFindings;
      }
      spdlog::warn("{}: encrypting despite check errors (--force)", o.image);
    }
  }
  ASSIGN_OR_RETURN(VolumeSelection selection, SelectDataVolumes(facts));
  for (const auto& s : selection.skipped) spdlog::warn("{}", s);
  if (selection.volumes.empty()) return InvalidInput(o.image + ": no data volume to encrypt");

  std::vector<Volume> volumes;
  for (const auto& c : selection.volumes) volumes.push_back({c, {}});
  std::mutex write_lock;  // outlives the disks' writers, which hold it
  std::vector<Disk> disks;
  RETURN_IF_ERROR(PlanDisks(o, volumes, disks));

  // Claim every output name before the long part, so a clash fails now.
  const std::string dir = o.output_dir;
  for (Disk& d : disks) {
    ASSIGN_OR_RETURN(d.out, OutputFile::Create(dir + "/" + d.out_name, o.force, d.input));
  }
  std::unique_ptr<OutputFile> pass_out;
  if (o.key_file.empty()) {
    ASSIGN_OR_RETURN(pass_out, OutputFile::Create(dir + "/passphrase", o.force, "", OutputMode::kSecret));
    RETURN_IF_ERROR(WriteFull(pass_out->file(), 0, passphrase.span()));
  }
  ASSIGN_OR_RETURN(auto manifest_out, OutputFile::Create(dir + "/manifest.json", o.force));

  // Hash the inputs while the disks are written: it reads them once more,
  // from the page cache when they fit. Any early return stops it.
  auto stop = std::make_shared<std::atomic<bool>>(false);
  auto hashes = std::async(std::launch::async, [inputs, stop]() -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    for (const auto& in : inputs) {
      ASSIGN_OR_RETURN(std::string h, Sha256File(in, *stop));
      out.push_back(std::move(h));
    }
    return out;
  });
  struct StopOnExit {
    std::atomic<bool>& flag;
    ~StopOnExit() { flag = true; }
  } stop_on_exit{*stop};

  uint64_t total = 0;
  for (const Disk& d : disks) {
    for (const Segment& s : d.layout.segments) total += s.length;
  }
  const auto start = std::chrono::steady_clock::now();
  {
    Progress progress(o.progress, total);
    ASSIGN_OR_RETURN(auto writer_options, DefaultWriterOptions());
    for (Disk& d : disks) {
      ASSIGN_OR_RETURN(auto w, MakeWriter(d.out_kind, d.out->file(), d.layout.out_size, writer_options));
      d.writer = std::make_unique<LockedWriter>(std::move(w), write_lock);
    }
    std::vector<SecretBytes> keys;
    for (Volume& v : volumes) {
      ASSIGN_OR_RETURN(SecretBytes key, VolumeKey());
      keys.push_back(std::move(key));
      v.m.luks_uuid = RandomLuksUuid();
      v.m.mapper_name = MapperName(v.m.luks_uuid);
    }
    std::atomic<bool> stop_headers{false};
    auto headers = std::async(std::launch::async, [&]() {
      return WriteHeaders(o, disks, volumes, keys, passphrase, stop_headers);
    });
    struct StopHeaders {
      std::atomic<bool>& flag;
      ~StopHeaders() { flag = true; }
    } stop_headers_on_exit{stop_headers};
    for (Disk& d : disks) RETURN_IF_ERROR(WriteDiskData(o, d, volumes, keys, progress));
    progress.Phase("luks-headers", "");
    RETURN_IF_ERROR(headers.get());
    for (Disk& d : disks) {
      for (const DiskWrite& w : d.layout.table_writes) RETURN_IF_ERROR(d.writer->Write(w.offset, w.bytes));
      RETURN_IF_ERROR(d.writer->Finish());
    }
    if (!data_only) {
      progress.Phase("guest-config", o.image);
      RETURN_IF_ERROR(EditGuest(facts, disks[0], volumes));
    }
    progress.Finish();
  }

  Manifest m;
  m.tool = "vhdcrypt 0.1.0";
  m.passphrase_file = pass_out ? "passphrase" : "";
  ASSIGN_OR_RETURN(auto sums, hashes.get());
  for (size_t i = 0; i < disks.size(); ++i) {
    const Disk& d = disks[i];
    m.disks.push_back({d.input, sums[i], ContainerKindName(d.image->kind()), d.image->virtual_size(), d.out_name,
                       ContainerKindName(d.out_kind), d.layout.out_size, TableKindName(d.table.kind),
                       i == 0 && !data_only});
  }
  for (const Volume& v : volumes) m.volumes.push_back(v.m);
  const std::string json = ManifestToJson(m);
  RETURN_IF_ERROR(WriteFull(manifest_out->file(), 0, std::span(reinterpret_cast<const uint8_t*>(json.data()), json.size())));

  // Images first, the manifest last: a manifest means a complete run.
  for (Disk& d : disks) RETURN_IF_ERROR(d.out->Commit());
  if (pass_out) RETURN_IF_ERROR(pass_out->Commit());
  RETURN_IF_ERROR(manifest_out->Commit());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const Volume& v : volumes) {
    spdlog::info("{}: {} -> LUKS2 {} ({}-byte sectors) in {}/{}", v.m.device,
                 v.m.mountpoint.empty() ? v.m.filesystem : v.m.mountpoint, v.m.luks_uuid, v.m.sector_size, dir,
                 disks[v.m.disk].out_name);
  }
  spdlog::info("wrote {} disk(s), {} volume(s) in {:.1f}s{}", disks.size(), volumes.size(), secs,
               pass_out ? "; passphrase in " + dir + "/passphrase (mode 0600)" : "");
  if (o.verify) {
    std::vector<std::string> against = inputs;
    return VerifyDirectory(dir, passphrase, against);
  }
  return kExitOk;
}

}  // namespace

int RunEncrypt(const EncryptCommandOptions& options) {
  auto r = Encrypt(options);
  if (!r.ok()) return ReportError(r.error());
  return *r;
}

}  // namespace vhdcrypt
