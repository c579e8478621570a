#include "src/cmd_decrypt.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "formats/copy.h"
#include "formats/output_file.h"
#include "formats/writer.h"
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/engine.h"
#include "src/exit_codes.h"
#include "src/format_util.h"
#include "src/luks.h"
#include "src/manifest.h"
#include "src/report.h"
#include "src/secret.h"

namespace vhdcrypt {
namespace {

// A LUKS2 header is 16 MiB by default; cryptsetup allows larger, but no
// header of ours or ADE's comes near this.
constexpr uint64_t kMaxHeaderBytes = 64u << 20;

std::string Describe(const Manifest& m, const ManifestVolume& v) {
  std::string s = m.disks[v.disk].output;
  s += v.partition == 0 ? " (whole disk)" : " partition " + std::to_string(v.partition);
  if (!v.mountpoint.empty()) s += " (" + v.mountpoint + ")";
  return s;
}

// The header bytes of every volume: attached ones read from the images,
// detached ones from their plaintext filesystem in one read-only appliance.
Result<std::vector<std::vector<uint8_t>>> ReadHeaders(const std::string& dir, const Manifest& m,
                                                      std::vector<std::unique_ptr<Image>>& images) {
  std::vector<std::vector<uint8_t>> headers(m.volumes.size());
  bool detached = false;
  for (size_t i = 0; i < m.volumes.size(); ++i) {
    const ManifestVolume& v = m.volumes[i];
    if (v.header == "detached") {
      detached = true;
      continue;
    }
    const uint64_t n = v.data_offset - v.header_offset;
    if (v.data_offset <= v.header_offset || n > kMaxHeaderBytes) {
      return InvalidInput(dir + "/manifest.json: volume " + std::to_string(i) + ": header_offset " +
                          std::to_string(v.header_offset) + " and data_offset " + std::to_string(v.data_offset) +
                          " do not frame a LUKS2 header");
    }
    headers[i].resize(n);
    RETURN_IF_ERROR(images[v.disk]->ReadAt(v.header_offset, headers[i]));
  }
  if (!detached) return headers;
  std::vector<guest::Drive> drives;
  for (const auto& img : images) drives.push_back({img->path(), guest::GuestfsFormat(img->kind()), true});
  ASSIGN_OR_RETURN(auto g, guest::Handle::Launch(drives));
  for (size_t i = 0; i < m.volumes.size(); ++i) {
    const ManifestVolume& v = m.volumes[i];
    if (v.header != "detached") continue;
    spdlog::info("reading the detached header {}:{}", v.header_device, v.header_file);
    RETURN_IF_ERROR(g->MountRo(v.header_device, "/"));
    ASSIGN_OR_RETURN(headers[i], g->ReadBytes(v.header_file, kMaxHeaderBytes));
    RETURN_IF_ERROR(g->UmountAll());
  }
  RETURN_IF_ERROR(g->Shutdown());
  return headers;
}

struct Region {
  uint64_t start = 0, end = 0;  // encrypted volume area in the source: header (if attached) and data
  int volume = -1;
};

Status DecryptDisk(const DecryptCommandOptions& o, const Manifest& m, size_t disk, Image& image, ImageWriter& out,
                   const std::vector<UnlockedLuks>& unlocked, Progress& progress) {
  std::vector<Region> regions;
  for (size_t i = 0; i < m.volumes.size(); ++i) {
    const ManifestVolume& v = m.volumes[i];
    if (static_cast<size_t>(v.disk) != disk) continue;
    regions.push_back({v.header_offset, v.data_offset + v.size, static_cast<int>(i)});
  }
  std::sort(regions.begin(), regions.end(), [](const Region& a, const Region& b) { return a.start < b.start; });
  uint64_t at = 0;
  auto advancer = [&progress, last = uint64_t{0}](uint64_t done, uint64_t) mutable {
    progress.Advance(done - last);
    last = done;
  };
  auto copy = [&](uint64_t from, uint64_t to) -> Status {
    progress.Phase("copy", m.disks[disk].output);
    ASSIGN_OR_RETURN(auto stats, CopyRange(image, from, to - from, out, from, advancer));
    (void)stats;
    return {};
  };
  for (const Region& r : regions) {
    if (r.start < at || r.end > image.virtual_size()) {
      return InvalidInput(m.disks[disk].output + ": the volumes of the manifest overlap or run past the disk's end");
    }
    if (r.start > at) RETURN_IF_ERROR(copy(at, r.start));
    const ManifestVolume& v = m.volumes[r.volume];
    const UnlockedLuks& u = unlocked[r.volume];
    progress.Phase("decrypt", Describe(m, v));
    VolumeJob job;
    job.source = &image;
    job.source_offset = v.data_offset;
    job.length = v.size;
    job.out = &out;
    job.out_offset = v.header_offset;  // the plaintext takes the volume's place from its first byte
    job.key = u.key.span();
    job.sector_size = u.sector_size;
    job.direction = Direction::kDecrypt;
    RETURN_IF_ERROR(RunVolumeJob(job, EngineOptions{o.threads}, advancer));
    at = r.end;
  }
  if (at < image.virtual_size()) RETURN_IF_ERROR(copy(at, image.virtual_size()));
  return {};
}

Result<int> Decrypt(const DecryptCommandOptions& o) {
  struct stat st;
  if (::stat(o.source.c_str(), &st) != 0) return IoError(o.source + ": does not exist");
  if (!S_ISDIR(st.st_mode)) {
    return UsageError(o.source + ": decrypt reads an encrypt output directory (with manifest.json)");
  }
  if (::stat(o.output_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return UsageError(o.output_dir + ": output directory does not exist");
  }
  ASSIGN_OR_RETURN(Manifest m, ReadManifest(o.source));
  ASSIGN_OR_RETURN(SecretBytes passphrase, ReadKeyFile(o.key_file));

  std::vector<std::unique_ptr<Image>> images;
  for (const auto& d : m.disks) {
    ASSIGN_OR_RETURN(auto file, OpenReadOnly(o.source + "/" + d.output));
    ASSIGN_OR_RETURN(auto img, OpenImage(std::move(file), FormatHint::kAuto));
    images.push_back(std::move(img));
  }
  for (const auto& v : m.volumes) {
    if (v.disk < 0 || static_cast<size_t>(v.disk) >= m.disks.size()) {
      return InvalidInput(o.source + "/manifest.json: a volume names disk " + std::to_string(v.disk));
    }
  }
  ASSIGN_OR_RETURN(auto headers, ReadHeaders(o.source, m, images));
  std::vector<UnlockedLuks> unlocked;
  uint64_t total = 0;
  for (size_t i = 0; i < m.volumes.size(); ++i) {
    const ManifestVolume& v = m.volumes[i];
    auto u = UnlockLuksVolume(headers[i], passphrase);
    if (!u.ok()) return Error(u.error().kind(), Describe(m, v) + ": " + u.error().message());
    if (u->cipher != "aes-xts-plain64") {
      return InvalidInput(Describe(m, v) + ": cipher " + u->cipher + ", vhdcrypt decrypts aes-xts-plain64 only");
    }
    const uint64_t expected = v.header == "detached" ? 0 : v.data_offset - v.header_offset;
    if (u->data_offset != expected) {
      return InvalidInput(Describe(m, v) + ": the header's data offset is " + std::to_string(u->data_offset) +
                          ", the manifest's " + std::to_string(expected));
    }
    if (v.size == 0 || v.size % u->sector_size != 0) {
      return InvalidInput(Describe(m, v) + ": size " + std::to_string(v.size) + " is not a multiple of its " +
                          std::to_string(u->sector_size) + "-byte sectors");
    }
    unlocked.push_back(std::move(*u));
  }
  // What will be read: every byte but the attached headers.
  for (const auto& img : images) total += img->virtual_size();
  for (const auto& v : m.volumes) total -= v.data_offset - v.header_offset;

  ASSIGN_OR_RETURN(WriterOptions writer_options, DefaultWriterOptions());
  Progress progress(o.progress, total);
  std::vector<std::unique_ptr<OutputFile>> outputs;
  for (size_t d = 0; d < m.disks.size(); ++d) {
    const ContainerKind kind = o.has_to ? o.to : images[d]->kind();
    std::string name = m.disks[d].output;
    const size_t dot = name.rfind('.');
    if (dot != std::string::npos) name.resize(dot);
    name += kind == ContainerKind::kRaw ? ".raw" : ".vhd";
    ASSIGN_OR_RETURN(auto out, OutputFile::Create(o.output_dir + "/" + name, o.force, images[d]->path()));
    ASSIGN_OR_RETURN(auto writer, MakeWriter(kind, out->file(), ContainerVirtualSize(kind, images[d]->virtual_size()),
                                             writer_options));
    RETURN_IF_ERROR(DecryptDisk(o, m, d, *images[d], *writer, unlocked, progress));
    RETURN_IF_ERROR(writer->Finish());
    outputs.push_back(std::move(out));
  }
  progress.Phase("commit", "");
  for (auto& out : outputs) RETURN_IF_ERROR(out->Commit());
  progress.Finish();
  for (size_t i = 0; i < m.volumes.size(); ++i) {
    spdlog::info("decrypted {} ({} bytes)", Describe(m, m.volumes[i]), m.volumes[i].size);
  }
  return kExitOk;
}

}  // namespace

int RunDecrypt(const DecryptCommandOptions& o) {
  HardenProcess();
  auto r = Decrypt(o);
  if (!r.ok()) return ReportError(r.error());
  return *r;
}

}  // namespace vhdcrypt
