// Runs the real vhdcrypt binary and captures what it prints.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace vhdcrypt::testing {

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();  // in blocks: a character at a time is slow on the 100 MiB disks some tests read
  return std::move(text).str();
}

// Starts the binary; returns the pid. stdout/stderr go to the given files.
inline pid_t Spawn(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path) {
  std::vector<std::string> argv_s = {VHDCRYPT_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

inline RunResult Wait(pid_t pid, const std::string& out_path, const std::string& err_path) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  RunResult r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = ReadText(out_path);
  r.err = ReadText(err_path);
  return r;
}

inline RunResult RunVhdcrypt(const std::vector<std::string>& args) {
  char tmpl[] = "/tmp/vhdcrypt-run-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string o = dir + "/out", e = dir + "/err";
  RunResult r = Wait(Spawn(args, o, e), o, e);
  ::unlink(o.c_str());
  ::unlink(e.c_str());
  ::rmdir(dir.c_str());
  return r;
}

}  // namespace vhdcrypt::testing
