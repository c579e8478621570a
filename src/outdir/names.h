// The names of the output directory's files, and the checks on the directory
// itself, shared by encrypt and decrypt (docs/output-directory.md).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "formats/image.h"

namespace vhdcrypt {

// The recovery key of --recovery-key (0600), the only copy ever written.
constexpr char kRecoveryKeyName[] = "recovery-key";

// The image written for `input` (a path or a file name) in container `kind`:
// its name without directory and extension, then .raw or .vhd
// ("in/disk.vhd", raw -> "disk.raw"); bytes that are not UTF-8 and control
// characters become "_", so that the manifest can name the file.
std::string ImageOutputName(const std::string& input, ContainerKind kind);

// The output directory of one run. Open() makes it (mode 0700: it will hold
// key files) when it is missing and its parent exists, so `--output-dir out/`
// works as written; a path that exists must be a directory. A directory Open()
// made is removed again when the run leaves it empty, unless Keep() was called.
// Open() also removes what a killed run left in an existing directory: the
// temporaries whose PID is gone (formats/output_file.h).
class OutputDirectory {
 public:
  static Result<OutputDirectory> Open(const std::string& dir);
  OutputDirectory(OutputDirectory&& other) noexcept;
  OutputDirectory& operator=(OutputDirectory&&) = delete;
  ~OutputDirectory();

  void Keep() { made_ = false; }
  // The temporaries of killed runs (their PID gone) that Open removed, as a
  // line for the log; "" when there were none.
  std::string RemovedNote() const;

 private:
  OutputDirectory(std::string path, bool made) : path_(std::move(path)), made_(made) {}
  std::string path_;
  bool made_ = false;
  std::vector<std::string> removed_;
};

}  // namespace vhdcrypt
