#include "src/commands/progress.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/stop_point.h"
#include "base/strings.h"

namespace vhdcrypt {
namespace {

using Clock = std::chrono::steady_clock;

std::string Duration(double s) {
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

}  // namespace

Progress::Progress(ProgressMode mode, uint64_t total, std::FILE* text_out, std::FILE* json_out)
    : mode_(mode), text_(text_out), json_(json_out), total_(total), start_(Clock::now()), last_(start_) {
  if (mode_ == ProgressMode::kAuto) mode_ = ::isatty(::fileno(text_)) ? ProgressMode::kAuto : ProgressMode::kPlain;
}

Progress::~Progress() {
  if (bar_open_) std::fputc('\n', text_);
}

void Progress::Phase(const std::string& phase, const std::string& subject) {
  StopPointForTests(phase);
  phase_ = phase;
  subject_ = subject;
  if (mode_ == ProgressMode::kPlain || mode_ == ProgressMode::kJson) Print(false);
}

std::function<void(uint64_t, uint64_t)> Progress::JobAdvancer() {
  return [this, last = uint64_t{0}](uint64_t done, uint64_t) mutable {
    Advance(done - last);
    last = done;
  };
}

void Progress::Advance(uint64_t bytes) {
  done_ += bytes;
  const auto now = Clock::now();
  const auto every = mode_ == ProgressMode::kAuto   ? std::chrono::milliseconds(200)
                     : mode_ == ProgressMode::kJson ? std::chrono::milliseconds(1000)
                                                    : std::chrono::milliseconds(5000);
  if (now - last_ >= every) {
    last_ = now;
    Print(false);
  }
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  phase_ = "done";
  subject_.clear();
  Print(true);
  if (bar_open_) {
    std::fputc('\n', text_);
    bar_open_ = false;
  }
}

void Progress::Print(bool final) {
  if (mode_ == ProgressMode::kNone) return;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
  const double eta = rate > 0 && total_ > done_ ? static_cast<double>(total_ - done_) / rate : 0;
  const double pct = total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0;
  if (mode_ == ProgressMode::kJson) {
    nlohmann::json j = {{"type", final ? "progress-done" : "progress"},
                        {"phase", phase_},
                        {"subject", subject_},
                        {"bytes_done", done_},
                        {"bytes_total", total_},
                        {"rate_bytes_per_second", static_cast<uint64_t>(rate)},
                        {"elapsed_seconds", elapsed}};
    std::fprintf(json_, "%s\n", JsonText(j).c_str());
    std::fflush(json_);
    return;
  }
  char line[256];
  std::snprintf(line, sizeof line, "%-12s %5.1f%%  %s / %s  %s/s  ETA %s  %s", phase_.c_str(), pct,
                BinaryUnits(done_).c_str(), BinaryUnits(total_).c_str(),
                BinaryUnits(static_cast<uint64_t>(rate)).c_str(), Duration(eta).c_str(), subject_.c_str());
  if (mode_ == ProgressMode::kAuto) {
    std::fprintf(text_, "\r%-110s", line);
    bar_open_ = true;
  } else {
    std::fprintf(text_, "vhdcrypt: progress: %s\n", line);
  }
  std::fflush(text_);
}

void PrintJsonResult(const std::string& command, int exit_code, const std::string& error, const std::string& output_dir,
                     std::FILE* out) {
  nlohmann::json j = {{"type", "result"}, {"command", command}, {"exit_code", exit_code}};
  if (exit_code != 0) j["error"] = error;
  if (exit_code == 0 && !output_dir.empty()) j["output_dir"] = output_dir;
  std::fprintf(out, "%s\n", JsonText(j).c_str());
  std::fflush(out);
}

}  // namespace vhdcrypt
