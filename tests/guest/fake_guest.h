// An in-memory guest for the edit steps' unit tests: a tree of files and
// directories, the mounts asked for, and the guest programs it was asked to
// run (answered by a callback). Stricter than it needs to be where a real
// guest would fail: writing into a missing directory, chmod of a missing
// path, reading a missing file.
#pragma once

#include <fnmatch.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "guestfs/ops.h"

namespace vhdcrypt::test {

class FakeGuest : public guest::Ops {
 public:
  std::map<std::string, std::string> files;  // path -> content
  std::map<std::string, int> modes;          // path -> mode set by Chmod
  std::set<std::string> dirs = {"/"};
  std::vector<std::pair<std::string, std::string>> mounts;  // (device, mountpoint), in order
  // Files of other filesystems (device -> path inside it -> content), which
  // appear under the mountpoint when the device is mounted.
  std::map<std::string, std::map<std::string, std::string>> devices;
  std::vector<std::string> mkfs;                   // "ext4 /dev/sda3 boot"
  std::vector<std::vector<std::string>> commands;  // every Command, in order
  // Answers Command (after it is recorded); by default every program succeeds
  // and prints nothing.
  std::function<Result<std::string>(const std::vector<std::string>&)> on_command;

  void AddFile(const std::string& path, const std::string& content) {
    MakeDirs(Parent(path));
    files[path] = content;
  }
  void AddDir(const std::string& path) { MakeDirs(path); }

  // Commands whose argv[0] is `program`.
  std::vector<std::vector<std::string>> Ran(const std::string& program) const {
    std::vector<std::vector<std::string>> out;
    for (const auto& c : commands) {
      if (!c.empty() && c[0] == program) out.push_back(c);
    }
    return out;
  }

  Result<bool> Exists(const std::string& path) override { return files.count(path) > 0 || dirs.count(path) > 0; }
  Result<bool> IsDir(const std::string& path) override { return dirs.count(path) > 0; }
  Result<std::vector<std::string>> Ls(const std::string& dir) override {
    if (!dirs.count(dir)) return Missing("ls", dir);
    std::set<std::string> names;
    const std::string prefix = dir == "/" ? "/" : dir + "/";
    auto add = [&](const std::string& p) {
      if (p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0) {
        names.insert(p.substr(prefix.size(), p.find('/', prefix.size()) - prefix.size()));
      }
    };
    for (const auto& [p, c] : files) add(p);
    for (const auto& p : dirs) add(p);
    return std::vector<std::string>(names.begin(), names.end());
  }
  Result<std::vector<std::string>> Glob(const std::string& pattern) override {
    std::vector<std::string> out;
    for (const auto& [p, c] : files) {
      if (::fnmatch(pattern.c_str(), p.c_str(), FNM_PATHNAME) == 0) out.push_back(p);
    }
    return out;
  }
  Result<std::vector<std::string>> ReadLines(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return Missing("read_lines", path);
    if (it->second.size() > guest::kMaxConfigFileBytes) {  // as Handle::ReadGuestLines
      return Error(ErrorKind::kInvalidInput, "guest file " + path + " is too big");
    }
    std::vector<std::string> lines;
    std::string line;
    for (char ch : it->second) {
      if (ch == '\n') {
        lines.push_back(line);
        line.clear();
      } else {
        line += ch;
      }
    }
    if (!line.empty()) lines.push_back(line);
    return lines;
  }
  Result<std::vector<std::string>> ReadLinesIfExists(const std::string& path) override {
    if (!files.count(path)) return std::vector<std::string>{};
    return ReadLines(path);
  }

  Status Mount(const std::string& dev, const std::string& mountpoint) override {
    mounts.emplace_back(dev, mountpoint);
    auto it = devices.find(dev);
    if (it != devices.end()) {
      for (const auto& [path, content] : it->second) AddFile(mountpoint + "/" + path, content);
    }
    return {};
  }
  Status Umount(const std::string& mountpoint) override {
    mounts.emplace_back("umount", mountpoint);
    return {};
  }
  Status UmountAll() override {
    mounts.emplace_back("umount-all", "");
    return {};
  }
  Status Write(const std::string& path, const std::string& content) override {
    if (!dirs.count(Parent(path))) return Missing("write", Parent(path));
    files[path] = content;
    return {};
  }
  Status WriteBytes(const std::string& path, std::span<const uint8_t> content) override {
    return Write(path, std::string(content.begin(), content.end()));
  }
  Status Mkdir(const std::string& path) override {
    MakeDirs(path);
    return {};
  }
  Status Chmod(int mode, const std::string& path) override {
    if (!files.count(path) && !dirs.count(path)) return Missing("chmod", path);
    modes[path] = mode;
    return {};
  }
  // "from/." copies the contents of from, as cp -a does.
  Status CopyTree(const std::string& from, const std::string& to) override {
    std::string src = from;
    if (src.size() >= 2 && src.compare(src.size() - 2, 2, "/.") == 0) src.resize(src.size() - 2);
    if (!dirs.count(src)) return Missing("cp", src);
    const std::string prefix = src + "/";
    for (const auto& [p, c] : std::map<std::string, std::string>(files)) {
      if (p.compare(0, prefix.size(), prefix) == 0) AddFile(to + "/" + p.substr(prefix.size()), c);
    }
    for (const auto& d : std::set<std::string>(dirs)) {
      if (d.compare(0, prefix.size(), prefix) == 0) MakeDirs(to + "/" + d.substr(prefix.size()));
    }
    return {};
  }
  Status RemoveTree(const std::string& path) override {
    const std::string prefix = path + "/";
    std::erase_if(files,
                  [&](const auto& f) { return f.first == path || f.first.compare(0, prefix.size(), prefix) == 0; });
    std::erase_if(dirs, [&](const auto& d) { return d == path || d.compare(0, prefix.size(), prefix) == 0; });
    return {};
  }
  Status Rmdir(const std::string& path) override {
    dirs.erase(path);
    return {};
  }
  Status Mkfs(const std::string& fstype, const std::string& dev, const std::string& label) override {
    mkfs.push_back(fstype + " " + dev + " " + label);
    return {};
  }
  Result<std::map<std::string, std::string>> Blkid(const std::string& dev) override {
    return std::map<std::string, std::string>{{"UUID", "uuid-of" + dev}};
  }
  Result<std::string> Command(const std::vector<std::string>& argv) override {
    commands.push_back(argv);
    if (on_command) return on_command(argv);
    return std::string();
  }

 private:
  void MakeDirs(const std::string& path) {
    for (std::string p = path; !p.empty() && p != "/"; p = Parent(p)) dirs.insert(p);
  }
  static std::string Parent(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
  static Error Missing(const std::string& op, const std::string& path) {
    return Error(ErrorKind::kGuest, op + ": " + path + ": No such file or directory");
  }
};

}  // namespace vhdcrypt::test
