// The names of the output directory's files, and the checks on the directory
// itself, shared by encrypt and decrypt (docs/output-directory.md).
#pragma once

#include <string>
#include <utility>

#include "base/result.h"
#include "formats/image.h"

namespace vhdcrypt {

// The image written for `input` (a path or a file name) in container `kind`:
// its name without directory and extension, then .raw or .vhd
// ("in/disk.vhd", raw -> "disk.raw").
std::string ImageOutputName(const std::string& input, ContainerKind kind);

// The output directory of one run. Open() makes it (mode 0700: it will hold
// key files) when it is missing and its parent exists, so `--output-dir out/`
// works as written; a path that exists must be a directory. A directory Open()
// made is removed again when the run leaves it empty, unless Keep() was called.
class OutputDirectory {
 public:
  static Result<OutputDirectory> Open(const std::string& dir);
  OutputDirectory(OutputDirectory&& other) noexcept;
  OutputDirectory& operator=(OutputDirectory&&) = delete;
  ~OutputDirectory();

  void Keep() { made_ = false; }

 private:
  OutputDirectory(std::string path, bool made) : path_(std::move(path)), made_(made) {}
  std::string path_;
  bool made_ = false;
};

}  // namespace vhdcrypt
