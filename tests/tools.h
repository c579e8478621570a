// Running the system tools the tests compare against (cryptsetup, sfdisk).
#pragma once

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace vhdcrypt::testing {

// The tool's path in the usual sbin/bin directories, or "" when it is not installed.
inline std::string FindTool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    const std::string path = dir + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

struct ShellResult {
  int exit_code = -1;
  std::string out;  // stdout; callers redirect stderr as they need
};

inline ShellResult Shell(const std::string& command) {
  ShellResult r;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace vhdcrypt::testing
