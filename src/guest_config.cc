#include "src/guest_config.h"

namespace vhdcrypt {

std::vector<std::string> RewriteFstab(const std::vector<std::string>& lines,
                                      const std::map<int, std::string>& spec_by_line) {
  std::vector<std::string> out = lines;
  for (const auto& [line, spec] : spec_by_line) {
    if (line < 1 || static_cast<size_t>(line) > out.size()) continue;
    std::string& text = out[line - 1];
    const size_t begin = text.find_first_not_of(" \t");
    if (begin == std::string::npos) continue;
    size_t end = text.find_first_of(" \t", begin);
    if (end == std::string::npos) end = text.size();
    text.replace(begin, end - begin, spec);
  }
  return out;
}

std::string MapperName(const std::string& luks_uuid) { return "luks-" + luks_uuid; }

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

std::string ComposeCrypttab(const std::vector<std::string>& existing, const std::vector<CrypttabVolume>& volumes) {
  std::string s = JoinLines(existing);
  s += "# data volumes encrypted by vhdcrypt\n";
  for (const auto& v : volumes) {
    s += v.name + " UUID=" + v.luks_uuid + " " + v.key_file + " " + v.options + "\n";
  }
  return s;
}

}  // namespace vhdcrypt
