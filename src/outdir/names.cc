#include "src/outdir/names.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "formats/io.h"

namespace vhdcrypt {

std::string ImageOutputName(const std::string& input, ContainerKind kind) {
  std::string stem = BaseName(input);
  const auto dot = stem.rfind('.');
  if (dot != std::string::npos && dot > 0) stem.resize(dot);
  return stem + (kind == ContainerKind::kRaw ? ".raw" : ".vhd");
}

Result<OutputDirectory> OutputDirectory::Open(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return UsageError(dir + ": output directory is not a directory");
    return OutputDirectory(dir, false);
  }
  if (errno != ENOENT) return IoError(dir + ": cannot look at the output directory: " + std::strerror(errno));
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == ENOENT) return UsageError(dir + ": output directory does not exist, nor does its parent");
    return IoError(dir + ": cannot make the output directory: " + std::strerror(errno));
  }
  return OutputDirectory(dir, true);
}

OutputDirectory::OutputDirectory(OutputDirectory&& other) noexcept
    : path_(std::move(other.path_)), made_(std::exchange(other.made_, false)) {}

OutputDirectory::~OutputDirectory() {
  if (made_) ::rmdir(path_.c_str());  // fails, as it should, when anything is left in it
}

}  // namespace vhdcrypt
