// encrypt, stage 3: the data (encrypt_stages.h): volume keys, writers,
// copied and encrypted segments, LUKS2 headers, the OS volume in place, the
// conversion of work files, and the input hasher.
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "base/strings.h"
#include "formats/copy.h"
#include "formats/guid.h"
#include "src/commands/encrypt_stages.h"
#include "src/crypto/digest.h"
#include "src/crypto/engine.h"
#include "src/crypto/luks.h"
#include "src/fsmap/used_blocks.h"
#include "src/guest/guest_config.h"

namespace vhdcrypt::encrypt {
namespace {

// Makes the calling thread `by` steps nicer than it is (at most 19). Best
// effort: a refusal only costs speed.
void LowerThreadPriority(int by) {
  const id_t tid = static_cast<id_t>(gettid());
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, tid);
  if (now == -1 && errno != 0) return;
  setpriority(PRIO_PROCESS, tid, std::min(now + by, 19));
}

// A version 4 UUID in the lowercase form LUKS headers and blkid use.
std::string RandomLuksUuid() { return Lower(RandomGuid().ToString()); }

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
    // Copied as it is: what is not a volume, and the OS volume, which stays
    // plaintext until the guest edits are done (EncryptInPlace follows).
    const Volume* v = s.volume < 0 ? nullptr : &volumes[disk.volumes[s.volume]];
    if (v == nullptr || v->os) {
      progress.Phase("copy", v == nullptr ? disk.input : v->m.device + " (/)");
      // An OS volume whose free space is skipped: only its used blocks; the
      // rest stays a hole, so no deleted file's plaintext reaches the output.
      std::vector<Extent> whole = {{0, s.length}};
      const bool skipped = v != nullptr && v->m.free_space == FreeSpace::kSkipped;
      for (const Extent& e : skipped ? v->used : whole) {
        ASSIGN_OR_RETURN(auto stats, CopyRange(*disk.image, s.source_offset + e.offset, e.length, *disk.writer,
                                               s.out_offset + e.offset, progress.JobAdvancer()));
        (void)stats;
      }
      continue;
    }
    const size_t index = disk.volumes[s.volume];
    progress.Phase("encrypt", v->m.device + (v->m.mountpoint.empty() ? "" : " (" + v->m.mountpoint + ")"));
    VolumeJob job;
    job.source = disk.image.get();
    job.source_offset = s.source_offset;
    job.length = s.length;
    job.out = disk.writer.get();
    job.out_offset = s.out_offset;
    job.key = keys[index].span();
    job.sector_size = v->m.sector_size;
    if (v->m.free_space == FreeSpace::kSkipped) job.only = &v->used;
    RETURN_IF_ERROR(RunVolumeJob(job, EngineOptions{o.threads}, progress.JobAdvancer()));
  }
  return {};
}

// The key slots: one PBKDF benchmark for the run, then a header per volume
// with the calibrated costs, each written in place as soon as it is made.
// Runs beside the bulk encryption, which does not need the headers: the
// engine works from the volume keys.
// A detached OS volume header is returned in *os_header, for the guest edits
// to put in /boot.
Status WriteHeaders(const EncryptCommandOptions& o, std::vector<Disk>& disks, const std::vector<Volume>& volumes,
                    const std::vector<SecretBytes>& keys, const SecretBytes& passphrase, const SecretBytes& recovery,
                    const std::atomic<bool>& stop, std::vector<uint8_t>* os_header) {
  ASSIGN_OR_RETURN(LuksOptions luks, CalibrateLuksOptions(o.luks));
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (stop) return IoError("LUKS header creation cancelled");
    const ManifestVolume& m = volumes[i].m;
    const LuksOptions lo = VolumeLuksOptions(luks, m);
    ASSIGN_OR_RETURN(LuksHeader header, FormatLuksHeader(passphrase, keys[i], lo));
    if (!recovery.empty()) {
      ASSIGN_OR_RETURN(header.bytes, AddLuksRecoveryKey(header.bytes, keys[i], recovery, lo));
    }
    if (volumes[i].detached()) {
      if (header.data_offset != 0 || header.uuid != m.luks_uuid) {
        return IoError("libcryptsetup made the detached header of " + m.device + " with its data segment at " +
                       std::to_string(header.data_offset) + " bytes and UUID " + header.uuid);
      }
      *os_header = std::move(header.bytes);
      continue;
    }
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

// Positional writes into a raw or fixed VHD output, whose virtual offsets
// are file offsets.
class InPlaceWriter : public ImageWriter {
 public:
  InPlaceWriter(File& file, uint64_t size) : file_(file), size_(size) {}
  uint64_t virtual_size() const override { return size_; }
  Status Write(uint64_t offset, std::span<const uint8_t> data) override { return WriteFull(file_, offset, data); }
  Status Finish() override { return {}; }

 private:
  File& file_;
  uint64_t size_;
};

// The edited OS volume, --skip-free-space: mapped again, since the edits
// allocated blocks (a new initramfs) and freed others, whose plaintext (the
// old initramfs, copied from the input) is zeroed now, with every other
// block the filesystem does not use. v.used becomes the new map.
Status ZeroFreeBlocks(Disk& disk, Volume& v, Image& image, Progress& progress) {
  ASSIGN_OR_RETURN(UsedBlocks map, MapUsedBlocks(image, v.m.data_offset, v.m.size,
                                                 disk.out_name + " " + v.m.device + " (/) after the guest edits"));
  File& out = disk.target().file();
  uint64_t at = 0;
  for (const Extent& e : map.used) {
    if (e.offset > at) RETURN_IF_ERROR(out.Zero(v.m.data_offset + at, e.offset - at));
    at = e.end();
  }
  if (at < v.m.size) RETURN_IF_ERROR(out.Zero(v.m.data_offset + at, v.m.size - at));
  progress.Advance(v.m.size - map.used_bytes);  // never encrypted: zero
  v.used = std::move(map.used);
  v.m.encrypted_bytes = map.used_bytes;
  spdlog::info("{} (/): {} of {} in use after the guest edits: only those are encrypted", v.m.device,
               HumanBytes(map.used_bytes), HumanBytes(v.m.size));
  return {};
}

// The OS volume, plaintext in the output until the guest edits are done,
// is encrypted where it lies: the engine reads each chunk before it writes
// it back, and never reads behind what it wrote.
Status EncryptInPlace(const EncryptCommandOptions& o, Disk& disk, Volume& v, const SecretBytes& key,
                      Progress& progress) {
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(disk.target().temp_path()));
  ASSIGN_OR_RETURN(auto image, OpenImage(std::move(file),
                                         disk.work_kind == ContainerKind::kRaw ? FormatHint::kRaw : FormatHint::kVhd));
  InPlaceWriter writer(disk.target().file(), image->virtual_size());
  progress.Phase("encrypt", v.m.device + " (/)");
  if (v.m.free_space == FreeSpace::kSkipped) RETURN_IF_ERROR(ZeroFreeBlocks(disk, v, *image, progress));
  VolumeJob job;
  job.source = image.get();
  job.source_offset = v.m.data_offset;
  job.length = v.m.size;
  job.out = &writer;
  job.out_offset = v.m.data_offset;
  job.key = key.span();
  job.sector_size = v.m.sector_size;
  if (v.m.free_space == FreeSpace::kSkipped) job.only = &v.used;
  return RunVolumeJob(job, EngineOptions{o.threads}, progress.JobAdvancer());
}

// The partition table the OS disk keeps, after the guest edits were made
// through its edit table: the OS partition starts at its LUKS header now.
// The boot code in sector 0 is the one the guest's grub-install may just have
// written (bytes 0-439; GRUB keeps the disk signature and the table), not the
// input's the layout carries.
Status WriteFinalTable(Disk& disk) {
  File& out = disk.target().file();
  std::array<uint8_t, kSectorSize> now{};
  RETURN_IF_ERROR(ReadFull(out, 0, now));
  constexpr size_t kBootCodeBytes = 440;
  for (DiskWrite w : disk.layout.table_writes) {
    if (w.offset == 0 && w.bytes.size() >= kBootCodeBytes) {
      std::copy(now.begin(), now.begin() + kBootCodeBytes, w.bytes.begin());
    }
    RETURN_IF_ERROR(WriteFull(out, w.offset, w.bytes));
  }
  return {};
}

// The raw work file into the output's container (a dynamic VHD), zero runs
// left unallocated; the work file is removed.
Status ConvertWorkFile(Disk& disk, const WriterOptions& options, Progress& progress) {
  progress.Phase("convert", disk.out_name);
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(disk.work->temp_path()));
  ASSIGN_OR_RETURN(auto image, OpenImage(std::move(file), FormatHint::kRaw));
  ASSIGN_OR_RETURN(auto writer, MakeWriter(disk.out_kind, disk.out->file(), disk.layout.out_size, options));
  ASSIGN_OR_RETURN(auto stats, CopyImage(*image, *writer, progress.JobAdvancer()));
  (void)stats;
  RETURN_IF_ERROR(writer->Finish());
  disk.work.reset();
  return {};
}

}  // namespace

LuksOptions VolumeLuksOptions(const LuksOptions& run, const ManifestVolume& m) {
  LuksOptions lo = run;
  lo.sector_size = m.sector_size;
  lo.uuid = m.luks_uuid;
  lo.detached = m.header == HeaderPlacement::kDetached;
  lo.label = m.os() ? kOsVolumeLabel : "";
  return lo;
}

Result<std::vector<SecretBytes>> MakeVolumeKeys(Plan& plan) {
  std::vector<SecretBytes> keys;
  for (Volume& v : plan.volumes) {
    ASSIGN_OR_RETURN(SecretBytes key, RandomVolumeKey());
    keys.push_back(std::move(key));
    v.m.luks_uuid = RandomLuksUuid();
    v.m.mapper_name = v.os ? kOsMapperName : MapperName(v.m.luks_uuid);
    if (v.detached()) {                        // only an OS volume's header is ever detached
      v.m.header_file = "/luks/osluksheader";  // kOsHeaderPath inside the /boot filesystem
      v.m.header_device = plan.boot_device;
    }
  }
  return keys;
}

Status OpenWriters(Plan& plan, std::mutex& lock, const WriterOptions& options) {
  for (Disk& d : plan.disks) {
    ASSIGN_OR_RETURN(auto w, MakeWriter(d.work_kind, d.target().file(), d.layout.out_size, options));
    d.writer = std::make_unique<LockedWriter>(std::move(w), lock);
  }
  return {};
}

uint64_t ProgressTotal(const Plan& plan) {
  uint64_t total = 0;
  for (const Disk& d : plan.disks) {
    for (const Segment& s : d.layout.segments) {
      total += s.volume < 0 ? s.length : plan.volumes[d.volumes[static_cast<size_t>(s.volume)]].m.encrypted_bytes;
    }
    if (d.work) total += d.layout.out_size;  // converted at the end
  }
  for (const Volume& v : plan.volumes) {
    if (v.os) total += v.m.size;  // copied, then encrypted in place
  }
  return total;
}

Status WriteData(const EncryptCommandOptions& o, Plan& plan, const std::vector<SecretBytes>& keys,
                 const SecretBytes& passphrase, const SecretBytes& recovery, Progress& progress,
                 std::vector<uint8_t>* os_header) {
  std::atomic<bool> stop_headers{false};
  auto headers = std::async(std::launch::async, [&]() {
    return WriteHeaders(o, plan.disks, plan.volumes, keys, passphrase, recovery, stop_headers, os_header);
  });
  struct StopHeaders {
    std::atomic<bool>& flag;
    ~StopHeaders() { flag = true; }
  } stop_headers_on_exit{stop_headers};
  for (Disk& d : plan.disks) RETURN_IF_ERROR(WriteDiskData(o, d, plan.volumes, keys, progress));
  progress.Phase("luks-headers", "");
  RETURN_IF_ERROR(headers.get());
  for (Disk& d : plan.disks) {
    // With an edit table the OS volume's partition starts at its filesystem
    // until the guest edits are done (EncryptOsVolume writes the final one).
    const auto& table = d.layout.edit_table_writes.empty() ? d.layout.table_writes : d.layout.edit_table_writes;
    for (const DiskWrite& w : table) RETURN_IF_ERROR(d.writer->Write(w.offset, w.bytes));
    RETURN_IF_ERROR(d.writer->Finish());
  }
  return {};
}

Status EncryptOsVolume(const EncryptCommandOptions& o, Plan& plan, const std::vector<SecretBytes>& keys,
                       Progress& progress) {
  for (size_t i = 0; i < plan.volumes.size(); ++i) {
    Volume& v = plan.volumes[i];
    if (!v.os) continue;
    Disk& disk = plan.disks[v.m.disk];
    if (!disk.layout.edit_table_writes.empty()) RETURN_IF_ERROR(WriteFinalTable(disk));
    RETURN_IF_ERROR(EncryptInPlace(o, disk, v, keys[i], progress));
  }
  return {};
}

Status ConvertWorkFiles(Plan& plan, const WriterOptions& options, Progress& progress) {
  for (Disk& d : plan.disks) {
    if (d.work) RETURN_IF_ERROR(ConvertWorkFile(d, options, progress));
  }
  return {};
}

// The hash only has to be done when the manifest is written. Nicer than the
// engine, it takes the CPU the pipeline leaves idle (waiting on reads and
// writeback) instead of delaying it; it reads the inputs once more, from the
// page cache when they fit. With --no-input-hash no thread is started and
// every digest stays empty (null in the manifest).
InputHasher::InputHasher(std::vector<std::string> paths, bool skip)
    : stop_(std::make_shared<std::atomic<bool>>(false)) {
  const auto policy = skip ? std::launch::deferred : std::launch::async;
  result_ = std::async(policy, [paths = std::move(paths), stop = stop_, skip]() -> Result<std::vector<std::string>> {
    if (skip) return std::vector<std::string>(paths.size());
    LowerThreadPriority(5);
    std::vector<std::string> out;
    for (const auto& in : paths) {
      ASSIGN_OR_RETURN(std::string h, Sha256File(in, *stop));
      out.push_back(std::move(h));
    }
    return out;
  });
}

InputHasher::~InputHasher() {
  *stop_ = true;
  if (result_.valid()) result_.wait();
}

Result<std::vector<std::string>> InputHasher::Get() { return result_.get(); }

}  // namespace vhdcrypt::encrypt
