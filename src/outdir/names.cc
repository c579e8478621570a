#include "src/outdir/names.h"

#include <sys/stat.h>

#include "formats/io.h"

namespace vhdcrypt {

std::string ImageOutputName(const std::string& input, ContainerKind kind) {
  std::string stem = BaseName(input);
  const auto dot = stem.rfind('.');
  if (dot != std::string::npos && dot > 0) stem.resize(dot);
  return stem + (kind == ContainerKind::kRaw ? ".raw" : ".vhd");
}

Status CheckOutputDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return UsageError(dir + ": output directory does not exist");
  if (!S_ISDIR(st.st_mode)) return UsageError(dir + ": is not a directory");
  return {};
}

}  // namespace vhdcrypt
