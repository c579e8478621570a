#include "src/outdir/names.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/strings.h"
#include "formats/io.h"
#include "formats/output_file.h"

namespace vhdcrypt {

std::string ImageOutputName(const std::string& input, ContainerKind kind) {
  std::string stem = BaseName(input);
  const auto dot = stem.rfind('.');
  if (dot != std::string::npos && dot > 0) stem.resize(dot);
  // The manifest (JSON, UTF-8) must name the file exactly: bytes that are not
  // UTF-8, and control characters, become '_' ("bad\xff.raw" -> "bad_.vhd").
  stem = ValidUtf8(stem, "_");
  for (char& c : stem) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
  }
  return stem + (kind == ContainerKind::kRaw ? ".raw" : ".vhd");
}

Result<OutputDirectory> OutputDirectory::Open(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return UsageError(dir + ": output directory is not a directory");
    OutputDirectory out(dir, false);
    ASSIGN_OR_RETURN(out.removed_, RemoveDeadRunTemporaries(dir));
    return out;
  }
  if (errno != ENOENT) return IoError(dir + ": cannot look at the output directory: " + std::strerror(errno));
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == ENOENT) return UsageError(dir + ": output directory does not exist, nor does its parent");
    return IoError(dir + ": cannot make the output directory: " + std::strerror(errno));
  }
  return OutputDirectory(dir, true);
}

OutputDirectory::OutputDirectory(OutputDirectory&& other) noexcept
    : path_(std::move(other.path_)), made_(std::exchange(other.made_, false)), removed_(std::move(other.removed_)) {}

std::string OutputDirectory::RemovedNote() const {
  if (removed_.empty()) return "";
  std::string names;
  for (const auto& n : removed_) names += (names.empty() ? "" : ", ") + n;
  return path_ + ": removed " + std::to_string(removed_.size()) + " temporary file" +
         (removed_.size() == 1 ? "" : "s") + " of an earlier run that was killed: " + names;
}

OutputDirectory::~OutputDirectory() {
  if (made_) ::rmdir(path_.c_str());  // fails, as it should, when anything is left in it
}

}  // namespace vhdcrypt
