#include "src/check/report.h"

#include <algorithm>
#include <string>

namespace vhdcrypt {
namespace {

bool HasError(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::kError; });
}

std::string Count(size_t n, const char* singular, const char* plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

std::string Padded(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// "ubuntu 22.4 (Ubuntu 22.04.3 LTS), x86_64, root /dev/sda1".
std::string OsLine(const guest::Facts& facts) {
  const auto& os = facts.os;
  if (!os.found) return "no operating system found";
  // libguestfs' product name can be bare ("12.4" from /etc/debian_version),
  // so the distro id and version always lead.
  std::string line = os.distro + " " + std::to_string(os.major) + "." + std::to_string(os.minor);
  if (!os.product_name.empty()) line += " (" + os.product_name + ")";
  if (!os.arch.empty()) line += ", " + os.arch;
  if (!os.root.empty()) line += ", root " + os.root;
  return line;
}

}  // namespace

nlohmann::ordered_json CheckJson(const guest::Facts& facts, const std::vector<Finding>& findings) {
  nlohmann::ordered_json j;
  j["image"] = facts.image;
  j["os"] = {
      {"distro", facts.os.distro}, {"product_name", facts.os.product_name},
      {"major", facts.os.major},   {"minor", facts.os.minor},
      {"arch", facts.os.arch},     {"type", facts.os.type},
      {"root", facts.os.root},
  };
  j["findings"] = nlohmann::ordered_json::array();
  for (const auto& f : findings) {
    j["findings"].push_back({
        {"id", f.id},
        {"severity", SeverityName(f.severity)},
        {"message", f.message},
        {"remedy", f.remedy},
        {"subject", f.subject},
    });
  }
  j["ok"] = !HasError(findings);
  return j;
}

std::string CheckText(const guest::Facts& facts, const std::vector<Finding>& findings) {
  std::string out = facts.image + ": " + OsLine(facts) + "\n";
  size_t id_width = 0;
  for (const auto& f : findings) id_width = std::max(id_width, f.id.size());
  size_t counts[3] = {0, 0, 0};
  for (Severity s : {Severity::kError, Severity::kWarning, Severity::kInfo}) {
    for (const auto& f : findings) {
      if (f.severity != s) continue;
      ++counts[static_cast<int>(s)];
      out += Padded(SeverityName(s), 8) + Padded(f.id, id_width + 2);
      if (!f.subject.empty()) out += f.subject + ": ";
      out += f.message + "\n";
      out += "  fix: " + f.remedy + "\n";
    }
  }
  out += Count(counts[0], "error", "errors") + ", " + Count(counts[1], "warning", "warnings") + ", " +
         std::to_string(counts[2]) + " info: " + (counts[0] ? "not ready" : "ready to encrypt") + "\n";
  return out;
}

}  // namespace vhdcrypt
