#include "src/commands/convert.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "base/exit_codes.h"
#include "base/strings.h"
#include "formats/copy.h"
#include "formats/output_file.h"
#include "formats/writer.h"

namespace vhdcrypt {
namespace {

Status Convert(const ConvertCommandOptions& o) {
  ASSIGN_OR_RETURN(auto in_file, OpenReadOnly(o.input));
  ASSIGN_OR_RETURN(auto in, OpenImage(std::move(in_file), o.format));
  for (const auto& w : in->Warnings()) spdlog::warn("{}: {}", o.input, w);

  const uint64_t size = ContainerVirtualSize(o.to, in->virtual_size());
  if (size != in->virtual_size()) {
    spdlog::info("{}: virtual size {} rounded up to {} (fixed VHDs must be a whole number of MiB for Azure)", o.output,
                 in->virtual_size(), size);
  }
  ASSIGN_OR_RETURN(auto options, DefaultWriterOptions());
  ASSIGN_OR_RETURN(auto out, OutputFile::Create(o.output, o.force, o.input));
  ASSIGN_OR_RETURN(auto writer, MakeWriter(o.to, out->file(), size, options));

  const auto start = std::chrono::steady_clock::now();
  int last_pct = -1;
  ProgressFn progress;
  if (o.progress) {
    progress = [&](uint64_t done, uint64_t total) {
      int pct = total ? static_cast<int>(done * 100 / total) : 100;
      if (pct != last_pct) {
        std::fprintf(stderr, "\rconverting: %3d%%", pct);
        last_pct = pct;
      }
    };
  }
  ASSIGN_OR_RETURN(auto stats, CopyImage(*in, *writer, progress));
  if (o.progress) std::fprintf(stderr, "\n");
  RETURN_IF_ERROR(writer->Finish());
  RETURN_IF_ERROR(out->Commit());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("{}: wrote {} ({} bytes of data, {} bytes read) in {:.2f}s", o.output, ContainerKindName(o.to),
               stats.bytes_written, stats.bytes_read, secs);
  return {};
}

}  // namespace

Result<int> RunConvert(const ConvertCommandOptions& options) {
  RETURN_IF_ERROR(Convert(options));
  return kExitOk;
}

}  // namespace vhdcrypt
