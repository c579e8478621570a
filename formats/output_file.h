// Atomic output: data goes to a temporary file in the destination directory
// (".NAME.vhdcrypt-XXXXXX"), which Commit() fsyncs and renames over NAME, then
// fsyncs the directory. Until then nothing exists under NAME. The temporary is
// removed by the destructor on error, and by the signal handler installed with
// InstallCleanupSignalHandlers() on SIGINT, SIGTERM and SIGHUP.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "formats/io.h"

namespace vhdcrypt {

// kPublic: mode 0666 less the umask, as any new file. kSecret: 0600 from
// creation to commit (key files).
enum class OutputMode { kPublic, kSecret };

class OutputFile {
 public:
  // Refuses when `path` exists unless `overwrite`, and always when `path` is
  // the same file as `input_path` (if given). Without `overwrite`, Commit
  // also refuses to replace a file that appeared meanwhile (no-replace rename).
  static Result<std::unique_ptr<OutputFile>> Create(const std::string& path, bool overwrite,
                                                    const std::string& input_path = "",
                                                    OutputMode mode = OutputMode::kPublic);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Writes go here; its path() is the final name, for messages.
  File& file() { return *file_; }
  const std::string& temp_path() const { return temp_path_; }
  Status Commit();

 private:
  OutputFile(std::string path, std::string temp_path, std::unique_ptr<PosixFile> file, int slot, bool overwrite)
      : path_(std::move(path)),
        temp_path_(std::move(temp_path)),
        file_(std::move(file)),
        slot_(slot),
        overwrite_(overwrite) {}
  void Discard();

  std::string path_;
  std::string temp_path_;
  std::unique_ptr<PosixFile> file_;
  int slot_;
  bool overwrite_;
  bool committed_ = false;
};

// True for a temporary name OutputFile writes under (".NAME.vhdcrypt-XXXXXX"):
// what an interrupted run leaves behind.
bool IsOutputTempName(const std::string& path);

// Removes pending temporaries, then dies of the signal as if unhandled.
void InstallCleanupSignalHandlers();

}  // namespace vhdcrypt
