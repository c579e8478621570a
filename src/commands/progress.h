// Progress of a long run: a bar with bytes, rate and ETA when stderr is a
// terminal, a plain line every few seconds otherwise, or one JSON object per
// line on stdout (--progress json) for pipelines. Bytes only: nothing about a
// volume's contents or keys is ever printed.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "base/result.h"

namespace vhdcrypt {

enum class ProgressMode { kAuto, kPlain, kJson, kNone };

// With --progress json, the last line a run prints on stdout:
// {"type":"result","command":...,"exit_code":N,"error":"..."(when N != 0),...details}.
// Errors name files and fields, never secrets.
void PrintJsonResult(const std::string& command, int exit_code, const std::string& error, const std::string& output_dir,
                     std::FILE* out = stdout);

class Progress {
 public:
  // total: bytes the whole run will move. kAuto becomes a bar on a terminal,
  // plain lines otherwise.
  Progress(ProgressMode mode, uint64_t total, std::FILE* text_out = stderr, std::FILE* json_out = stdout);
  ~Progress();

  // A new phase ("copy", "encrypt", "guest-config", "commit") on a volume or
  // disk ("" if none).
  void Phase(const std::string& phase, const std::string& subject);
  // Adds `bytes` to the bytes done. Cheap: prints at most a few times a second.
  void Advance(uint64_t bytes);
  // A job's (bytes done, job total) callback, as CopyRange and the engine
  // take, that adds what is new to this progress.
  std::function<void(uint64_t, uint64_t)> JobAdvancer();
  // Prints the last state (100% when all bytes were done).
  void Finish();

 private:
  void Print(bool final);

  ProgressMode mode_;
  std::FILE* text_;
  std::FILE* json_;
  uint64_t total_;
  uint64_t done_ = 0;
  std::string phase_, subject_;
  std::chrono::steady_clock::time_point start_, last_;
  bool bar_open_ = false;
  bool finished_ = false;
};

}  // namespace vhdcrypt
