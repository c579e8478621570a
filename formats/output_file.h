// Atomic output: data goes to a temporary file in the destination directory
// (".NAME.vhdcrypt-PID-XXXXXX"), which Commit() fsyncs and renames over NAME,
// then fsyncs the directory. Until then nothing exists under NAME. The
// temporary is removed by the destructor on error, and by the signal handler
// installed with InstallCleanupSignalHandlers() on SIGINT, SIGTERM and SIGHUP.
// A run killed outright (SIGKILL, power loss) leaves its temporaries; the PID
// in their names lets the next run tell them from a live run's and remove
// them (RemoveDeadRunTemporaries).
//
// Several outputs that only make sense together (an encrypt run's images,
// keys and manifest) are committed with CommitAll: all of them are renamed
// into place, or, when one rename fails, the ones already renamed are undone
// and nothing of the run is left under a final name.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/io.h"

namespace vhdcrypt {

// kPublic: mode 0666 less the umask, as any new file. kSecret: 0600 from
// creation to commit (key files).
enum class OutputMode { kPublic, kSecret };

struct PendingOutput;  // the signal handler's record of one output

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
  friend Status CommitAll(std::span<OutputFile* const> outputs);
  OutputFile(std::string path, std::string temp_path, std::unique_ptr<PosixFile> file, PendingOutput* pending,
             bool overwrite)
      : path_(std::move(path)),
        temp_path_(std::move(temp_path)),
        file_(std::move(file)),
        pending_(pending),
        overwrite_(overwrite) {}
  // The steps of a commit: rename into place (the old file, with overwrite,
  // kept under the temporary name), undo that, or make it final.
  Status Place();
  void Undo();
  void Finish();

  std::string path_;
  std::string temp_path_;
  std::unique_ptr<PosixFile> file_;
  PendingOutput* pending_;
  bool overwrite_;
  bool exchanged_ = false;  // placed by swapping with an existing file
  bool committed_ = false;
};

// Commits every output in order (each fsynced first), then fsyncs their
// directories. When a rename fails, the outputs already renamed are undone
// (a new name removed, a replaced file put back) and the error is returned.
Status CommitAll(std::span<OutputFile* const> outputs);

// True for a temporary name OutputFile writes under
// (".NAME.vhdcrypt-PID-XXXXXX", or ".NAME.vhdcrypt-XXXXXX" from versions
// before the PID): what an interrupted run leaves behind.
bool IsOutputTempName(const std::string& path);

// The PID in a temporary's name; nothing for names without one.
std::optional<pid_t> OutputTempOwner(const std::string& path);

// Removes the temporaries in `dir` whose run is gone (their PID names no
// live process) and returns their names. Temporaries of live runs stay.
Result<std::vector<std::string>> RemoveDeadRunTemporaries(const std::string& dir);

// Removes pending temporaries (and undoes a commit under way), then dies of
// the signal as if unhandled. Any number of outputs is tracked.
void InstallCleanupSignalHandlers();

}  // namespace vhdcrypt
