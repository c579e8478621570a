#include "guestfs/os_identity.h"

#include <map>

#include "base/strings.h"
#include "guestfs/fstab_spec.h"

namespace vhdcrypt::guest {
namespace {

// What the release-file tests fill in, each field as libguestfs keeps it:
// a test may set some and still fail, and the next test starts from there.
struct Data {
  std::optional<std::string> distro;
  std::optional<std::string> product;
  std::optional<std::pair<int, int>> version;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A run of decimal digits as an int; nullopt when it would not fit (a
// hostile VERSION_ID of a thousand digits is no version).
std::optional<int> Number(std::string_view digits) {
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  int v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

size_t DigitsEnd(std::string_view s, size_t i) {
  while (i < s.size() && IsDigit(s[i])) ++i;
  return i;
}

// libguestfs' parse_version_from_major_minor: the first "N.M" anywhere in
// the text, else the first "N" (as N.0); otherwise nothing changes.
void ParseVersion(std::string_view s, Data& d) {
  std::optional<std::pair<size_t, size_t>> first_run;
  for (size_t i = 0; i < s.size();) {
    if (!IsDigit(s[i])) {
      ++i;
      continue;
    }
    const size_t end = DigitsEnd(s, i);
    if (!first_run) first_run = {i, end};
    if (end + 1 < s.size() && s[end] == '.' && IsDigit(s[end + 1])) {
      auto major = Number(s.substr(i, end - i));
      auto minor = Number(s.substr(end + 1, DigitsEnd(s, end + 1) - end - 1));
      if (major && minor) d.version = {*major, *minor};
      return;
    }
    i = end;
  }
  if (first_run) {
    if (auto major = Number(s.substr(first_run->first, first_run->second - first_run->first))) d.version = {*major, 0};
  }
}

// KEY=value lines; a later key wins. Quotes (and, in double quotes, the
// shell's backslash escapes) are removed as libguestfs' shell_unquote does.
std::vector<std::pair<std::string, std::string>> KeyValues(const std::vector<std::string>& lines) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& raw : lines) {
    const std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    } else if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      std::string unescaped;
      for (size_t i = 1; i + 1 < value.size(); ++i) {
        if (value[i] == '\\' && i + 2 < value.size() &&
            std::string_view("\\\"$`").find(value[i + 1]) != std::string_view::npos)
          ++i;
        unescaped += value[i];
      }
      value = unescaped;
    }
    out.emplace_back(line.substr(0, eq), value);
  }
  return out;
}

std::optional<std::string> DistroOfOsReleaseId(const std::string& id) {
  static const std::map<std::string, std::string> kIds = {{"alpine", "alpinelinux"}, {"altlinux", "altlinux"},
                                                          {"arch", "archlinux"},     {"centos", "centos"},
                                                          {"coreos", "coreos"},      {"debian", "debian"},
                                                          {"fedora", "fedora"},      {"frugalware", "frugalware"},
                                                          {"gentoo", "gentoo"},      {"kali", "kalilinux"},
                                                          {"kylin", "kylin"},        {"mageia", "mageia"},
                                                          {"neokylin", "neokylin"},  {"openmandriva", "openmandriva"},
                                                          {"opensuse", "opensuse"},  {"pardus", "pardus"},
                                                          {"pld", "pldlinux"},       {"rhel", "rhel"},
                                                          {"rocky", "rocky"},        {"sles", "sles"},
                                                          {"sled", "sles"},          {"ubuntu", "ubuntu"},
                                                          {"void", "voidlinux"}};
  if (auto it = kIds.find(id); it != kIds.end()) return it->second;
  if (StartsWith(id, "opensuse-")) return "opensuse";
  return std::nullopt;
}

bool ParseOsRelease(const std::vector<std::string>& lines, Data& d) {
  for (const auto& [key, value] : KeyValues(lines)) {
    if (key == "ID") {
      if (auto distro = DistroOfOsReleaseId(value)) d.distro = distro;
    } else if (key == "PRETTY_NAME") {
      d.product = value;
    } else if (key == "VERSION_ID") {
      ParseVersion(value, d);
    }
  }
  if (!d.distro || !d.product) return false;
  // Debian's and CentOS's os-release give the major version only: the
  // release files have the rest.
  const bool major_only = *d.distro == "debian" || *d.distro == "centos" || *d.distro == "rocky";
  if (major_only && d.version && d.version->second == 0) return false;
  if (!d.version) {
    const bool rolling = *d.distro == "archlinux" || *d.distro == "gentoo" || *d.distro == "voidlinux";
    if (!rolling) return false;
    d.version = {0, 0};
  }
  return true;
}

bool ParseLsbRelease(const std::vector<std::string>& lines, Data& d) {
  static const std::map<std::string, std::string> kIds = {
      {"CoreOS", "coreos"}, {"LinuxMint", "linuxmint"}, {"Mageia", "mageia"}, {"Ubuntu", "ubuntu"}};
  bool ok = false;
  for (const auto& [key, value] : KeyValues(lines)) {
    if (key == "DISTRIB_ID") {
      if (auto it = kIds.find(value); it != kIds.end()) {
        ok = true;
        d.distro = it->second;
      }
    } else if (key == "DISTRIB_RELEASE") {
      ParseVersion(value, d);
    } else if (key == "DISTRIB_DESCRIPTION") {
      ok = true;
      d.product = value;
    }
  }
  return ok;
}

// "release N" right at s[i] ("release " then a digit): where N ends, or npos.
size_t ReleaseNumberAt(std::string_view s, size_t i) {
  constexpr std::string_view kRelease = "release ";
  if (s.substr(i, kRelease.size()) != kRelease) return std::string_view::npos;
  const size_t start = i + kRelease.size();
  const size_t end = DigitsEnd(s, start);
  return end > start ? end : std::string_view::npos;
}

// The patterns of libguestfs' release-file tests, on the file's first line:
//   kMajorMinor:  PREFIX.*release (\d+)\.(\d+)
//   kMajor:       PREFIX.*release (\d+)
//   kUpdate:      PREFIX.*release (\d+).*Update (\d+)
// The greedy .* takes the last "release" after the prefix that lets the rest
// match. nullopt: no match; a version of {N, nullopt}: no minor.
enum class Form { kMajorMinor, kMajor, kUpdate };
struct Match {
  std::optional<int> major, minor;
};
std::optional<Match> MatchRelease(std::string_view line, std::string_view prefix, Form form) {
  const size_t at = line.find(prefix);
  if (at == std::string_view::npos) return std::nullopt;
  const size_t from = at + prefix.size();
  size_t limit = line.size();  // the release number must end by here
  std::optional<int> update;
  if (form == Form::kUpdate) {
    constexpr std::string_view kUpdateWord = "Update ";
    std::optional<size_t> last;
    for (size_t u = line.find(kUpdateWord, from); u != std::string_view::npos; u = line.find(kUpdateWord, u + 1)) {
      const size_t digits = u + kUpdateWord.size();
      if (DigitsEnd(line, digits) > digits) last = u;
    }
    if (!last) return std::nullopt;
    limit = *last;
    const size_t digits = *last + kUpdateWord.size();
    update = Number(line.substr(digits, DigitsEnd(line, digits) - digits));
  }
  std::optional<Match> found;
  for (size_t r = line.find("release ", from); r != std::string_view::npos && r < limit;
       r = line.find("release ", r + 1)) {
    const size_t end = ReleaseNumberAt(line, r);
    if (end == std::string_view::npos || end > limit) continue;
    const size_t start = r + std::string_view("release ").size();
    Match m{Number(line.substr(start, end - start)), std::nullopt};
    if (form == Form::kMajorMinor) {
      if (end + 1 >= line.size() || line[end] != '.' || !IsDigit(line[end + 1])) continue;
      m.minor = Number(line.substr(end + 1, DigitsEnd(line, end + 1) - end - 1));
    } else if (form == Form::kUpdate) {
      m.minor = update;
    }
    found = m;
  }
  return found;
}

// libguestfs' parse_generic: the first line is the product name and the
// distro is set whatever follows; with a pattern, the test succeeds only when
// it matches (and its numbers, when they parse, are the version).
struct Pattern {
  std::string_view prefix;
  Form form;
};
bool ParseGeneric(const std::vector<std::string>& lines, const std::string& distro, const std::optional<Pattern>& p,
                  Data& d) {
  const std::string first = lines.empty() ? "" : lines.front();
  if (first.empty()) return false;
  d.product = first;
  d.distro = distro;
  if (!p) {
    ParseVersion(first, d);
    return true;
  }
  auto m = MatchRelease(first, p->prefix, p->form);
  if (!m) return false;
  if (m->major) d.version = {*m->major, m->minor.value_or(0)};
  return true;
}

// /etc/SuSE-release: the first line names the product, the next ones the
// version ("VERSION = 12", "PATCHLEVEL = 3").
bool ParseSuseRelease(const std::vector<std::string>& lines, Data& d) {
  if (lines.empty()) return false;
  const std::string& product = lines[0];
  d.product = product;
  auto field = [&](size_t index, std::string_view key) -> std::optional<int> {
    if (index >= lines.size() || !StartsWith(lines[index], key)) return std::nullopt;
    const std::string_view rest = std::string_view(lines[index]).substr(key.size());
    return Number(rest.substr(0, DigitsEnd(rest, 0)));
  };
  if (StartsWith(product, "SUSE Linux Enterprise ") || StartsWith(product, "SUSE LINUX Enterprise ") ||
      StartsWith(product, "Novell Linux Desktop ")) {
    const auto major = field(1, "VERSION = ");
    const auto minor = field(2, "PATCHLEVEL = ");
    d.distro = "sles";
    if (major) {
      d.version = {*major, minor.value_or(0)};
    } else {
      d.version.reset();
    }
  } else if (StartsWith(product, "openSUSE ") || StartsWith(product, "SuSE Linux ") ||
             StartsWith(product, "SUSE LINUX ")) {
    if (lines.size() >= 2) ParseVersion(lines[1], d);
    d.distro = "opensuse";
  }
  return true;
}

struct Test {
  const char* file;
  std::function<bool(const std::vector<std::string>&, Data&)> parse;
};

std::function<bool(const std::vector<std::string>&, Data&)> Generic(std::string distro,
                                                                    std::optional<Pattern> p = std::nullopt) {
  return [distro, p](const std::vector<std::string>& lines, Data& d) { return ParseGeneric(lines, distro, p, d); };
}
std::function<bool(const std::vector<std::string>&, Data&)> Marks(std::string distro) {
  return [distro](const std::vector<std::string>&, Data& d) {
    d.distro = distro;
    return true;
  };
}

// In libguestfs' order; the first test whose file is there and that succeeds ends the search.
const std::vector<Test>& LinuxRootTests() {
  static const std::vector<Test> kTests = [] {
    std::vector<Test> t;
    t.push_back({"/etc/os-release", ParseOsRelease});
    t.push_back({"/etc/lsb-release", ParseLsbRelease});
    t.push_back({"/etc/openmandriva-release", Generic("openmandriva", Pattern{"OpenMandriva", Form::kMajorMinor})});
    for (Form f : {Form::kUpdate, Form::kMajorMinor, Form::kMajor}) {
      t.push_back({"/etc/oracle-release", Generic("oraclelinux", Pattern{"Oracle Linux", f})});
    }
    for (Form f : {Form::kUpdate, Form::kMajorMinor, Form::kMajor}) {
      t.push_back({"/etc/centos-release", Generic("centos", Pattern{"CentOS", f})});
    }
    for (Form f : {Form::kMajorMinor, Form::kMajor}) {
      t.push_back({"/etc/rocky-release", Generic("rocky", Pattern{"Rocky Linux", f})});
    }
    t.push_back({"/etc/altlinux-release", Generic("altlinux")});
    // "Fedora release (\d+)": the number right after.
    t.push_back({"/etc/redhat-release", [](const std::vector<std::string>& lines, Data& d) {
                   const std::string first = lines.empty() ? "" : lines.front();
                   if (first.empty()) return false;
                   d.product = first;
                   d.distro = "fedora";
                   constexpr std::string_view kFedora = "Fedora release ";
                   const size_t at = first.find(kFedora);
                   if (at == std::string::npos) return false;
                   const size_t start = at + kFedora.size();
                   const size_t end = DigitsEnd(first, start);
                   if (end == start) return false;
                   if (auto major = Number(std::string_view(first).substr(start, end - start))) d.version = {*major, 0};
                   return true;
                 }});
    const std::pair<const char*, const char*> kRedHatFamily[] = {
        {"Red Hat", "rhel"}, {"CentOS", "centos"}, {"Rocky Linux", "rocky"}, {"Scientific Linux", "scientificlinux"}};
    for (const auto& [prefix, distro] : kRedHatFamily) {
      const bool has_update = std::string_view(distro) != "rocky";
      for (Form f : {Form::kUpdate, Form::kMajorMinor, Form::kMajor}) {
        if (f == Form::kUpdate && !has_update) continue;
        t.push_back({"/etc/redhat-release", Generic(distro, Pattern{prefix, f})});
      }
    }
    t.push_back({"/etc/redhat-release", Generic("redhat-based")});
    t.push_back({"/etc/redhat-release", Marks("redhat-based")});
    t.push_back({"/etc/debian_version", Generic("debian")});
    t.push_back({"/etc/pardus-release", Generic("pardus")});
    t.push_back({"/etc/arch-release", Marks("archlinux")});
    t.push_back({"/etc/gentoo-release", Generic("gentoo")});
    t.push_back({"/etc/meego-release", Generic("meego")});
    t.push_back({"/etc/slackware-version", Generic("slackware")});
    t.push_back({"/etc/ttylinux-target", Generic("ttylinux")});
    t.push_back({"/etc/SuSE-release", ParseSuseRelease});
    t.push_back({"/etc/SuSE-release", Marks("suse-based")});
    t.push_back({"/etc/cirros/version", Generic("cirros")});
    t.push_back({"/etc/alpine-release", Generic("alpinelinux")});
    return t;
  }();
  return kTests;
}

}  // namespace

LinuxIdentity IdentifyLinux(const GuestFileReader& read) {
  Data d;
  std::map<std::string, std::optional<std::vector<std::string>>> files;  // each read once
  for (const auto& test : LinuxRootTests()) {
    auto it = files.find(test.file);
    if (it == files.end()) it = files.emplace(test.file, read(test.file)).first;
    if (!it->second) continue;
    if (test.parse(*it->second, d)) break;
  }
  LinuxIdentity out;
  if (d.distro) out.distro = *d.distro;
  if (d.product) out.product_name = *d.product;
  if (d.version) std::tie(out.major, out.minor) = *d.version;
  return out;
}

std::string ElfArchitecture(std::span<const uint8_t> h) {
  if (h.size() < kElfHeaderBytes || h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') return "";
  const bool is64 = h[4] == 2;
  const bool little = h[5] == 1;
  const unsigned machine = little ? h[18] | (h[19] << 8) : (h[18] << 8) | h[19];
  switch (machine) {
    case 3:                 // EM_386
    case 6: return "i386";  // EM_486
    case 62: return "x86_64";
    case 2:                     // EM_SPARC
    case 18: return "sparc";    // EM_SPARC32PLUS
    case 43: return "sparc64";  // EM_SPARCV9
    case 50: return "ia64";
    case 20: return "ppc";
    case 21: return little ? "ppc64le" : "ppc64";
    case 183: return "aarch64";
    case 40: return "arm";
    case 243: return is64 ? "riscv64" : "riscv32";
    case 22: return is64 ? "s390x" : "s390";
    default: return "";
  }
}

std::vector<std::pair<std::string, std::string>> FstabMountpoints(const std::vector<FstabEntry>& fstab,
                                                                  const std::vector<Filesystem>& filesystems) {
  auto removable = [](const std::string& spec) {
    auto digit_at_5 = [&](std::string_view prefix) {
      return StartsWith(spec, prefix) && spec.size() > prefix.size() && IsDigit(spec[prefix.size()]);
    };
    return digit_at_5("/dev/fd") || digit_at_5("/dev/cd") || spec == "/dev/floppy" || spec == "/dev/cdrom" ||
           StartsWith(spec, "/dev/iso9660/");
  };
  auto canonical = [](const std::string& path) {
    std::string out;
    for (char c : path) {
      if (c == '/' && !out.empty() && out.back() == '/') continue;
      out += c;
    }
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
  };
  auto under = [](const std::string& mp, std::string_view dir) {
    return mp == dir || StartsWith(mp, std::string(dir) + "/");
  };
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : fstab) {
    if (removable(e.spec) || e.vfstype.empty()) continue;
    const std::string mp = canonical(DecodeFstab(e.file));
    if (mp.empty() || mp[0] != '/' || mp == "/") continue;
    if (under(mp, "/dev") || StartsWith(mp, "/media/") || under(mp, "/proc") || under(mp, "/selinux") ||
        under(mp, "/sys")) {
      continue;
    }
    const Resolved r = ResolveFstabSpec(e.spec, filesystems);
    if (r.how == Resolution::kResolved) out.emplace_back(mp, r.fs->device);
  }
  return out;
}

}  // namespace vhdcrypt::guest
