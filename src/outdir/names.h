// The names of the output directory's files, and the checks on the directory
// itself, shared by encrypt and decrypt (docs/output-directory.md).
#pragma once

#include <string>

#include "base/result.h"
#include "formats/image.h"

namespace vhdcrypt {

// The image written for `input` (a path or a file name) in container `kind`:
// its name without directory and extension, then .raw or .vhd
// ("in/disk.vhd", raw -> "disk.raw").
std::string ImageOutputName(const std::string& input, ContainerKind kind);

// kUsage unless `dir` exists and is a directory.
Status CheckOutputDir(const std::string& dir);

}  // namespace vhdcrypt
