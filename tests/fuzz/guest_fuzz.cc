// libFuzzer target: any bytes as the text of a guest file (or a manifest),
// through every parser of guest text, the check rules that judge what they
// parse, the editors that rewrite it, and the writers that print it
// (docs/hostile-input.md). The first byte picks the reader; the rest is the
// file. Beyond "no crash, no sanitizer report, no uncaught exception":
//   - JsonText of anything parses back as JSON;
//   - TerminalSafe leaves no control byte but tab and newline;
//   - the kernel command line and GRUB editors are idempotent: editing
//     their own output changes nothing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/strings.h"
#include "guestfs/facts.h"
#include "guestfs/inspect.h"
#include "guestfs/version.h"
#include "src/check/rules.h"
#include "src/guest/guest_config.h"
#include "src/outdir/manifest.h"

namespace {

using namespace vhdcrypt;

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckWriters(const std::string& text) {
  nlohmann::json j = {{"text", text}, {"list", Lines(text)}};
  Require(nlohmann::json::accept(JsonText(j)));
  const std::string safe = TerminalSafe(text);
  for (size_t i = 0; i < safe.size();) {
    const auto c = static_cast<unsigned char>(safe[i]);
    Require(c >= 0x20 || c == '\t' || c == '\n');
    Require(c != 0x7F);
    const size_t n = Utf8SequenceAt(safe, i);
    Require(n > 0);  // TerminalSafe's output is UTF-8 through and through
    if (n == 2) Require(!(c == 0xC2 && static_cast<unsigned char>(safe[i + 1]) < 0xA0));  // no C1
    i += n;
  }
  Require(ValidUtf8(text) == ValidUtf8(ValidUtf8(text)));
}

// Facts as an inspection would give them with `lines` as the file, judged by
// every rule: the rules meet the same hostile text as the parsers.
void JudgeFstab(const std::vector<std::string>& lines) {
  guest::Facts facts;
  facts.image = "fuzz.vhd";
  facts.os.found = true;
  facts.os.type = "linux";
  facts.os.distro = "ubuntu";
  facts.os.major = 22;
  facts.fstab_present = true;
  facts.fstab = guest::ParseFstab(lines);
  facts.crypttab_present = true;
  facts.crypttab = guest::ParseCrypttab(lines);
  facts.modprobe_rules = guest::ParseModprobe("/etc/modprobe.d/fuzz.conf", lines);
  for (const auto& f : RunRules(facts, {})) {
    nlohmann::json j = {{"id", f.id}, {"message", f.message}, {"subject", f.subject}};
    Require(nlohmann::json::accept(JsonText(j)));
  }
}

void EditCmdline(const std::string& text) {
  const CmdlineEdit edit{"0571e000-0000-4000-8000-000000000011", "/dev/mapper/osencrypt"};
  std::vector<std::string> changes;
  const std::string once = EditKernelCmdline(text, edit, &changes);
  changes.clear();
  Require(EditKernelCmdline(once, edit, &changes) == once);
  Require(changes.empty());
}

void EditGrub(const std::vector<std::string>& lines) {
  const CmdlineEdit edit{"0571e000-0000-4000-8000-000000000011", ""};
  std::vector<std::string> changes;
  const auto once = EditGrubDefaults(lines, edit, &changes);
  Require(once.size() == lines.size());  // line for line
  changes.clear();
  Require(EditGrubDefaults(once, edit, &changes) == once);
  Require(changes.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto lines = Lines(text);
  switch (data[0] % 8) {
    case 0: JudgeFstab(lines); break;
    case 1:
      guest::OsReleaseValue(lines, "ID");
      guest::OsReleaseValue(lines, "VERSION_ID");
      guest::AgentVersionFromSource(lines);
      break;
    case 2:
      for (const auto& l : lines) guest::ModuleNameFromPath(l);
      guest::ParseVersion(text);
      break;
    case 3: {
      auto disks = guest::ParseKernelDisks(text);
      if (disks.ok()) {
        for (const auto& l : lines) (void)guest::KernelDeviceName(l, *disks);
      }
      break;
    }
    case 4: EditCmdline(text); break;
    case 5: EditGrub(lines); break;
    case 6: {
      auto m = ManifestFromJson("fuzz/manifest.json", text);
      if (!m.ok()) Require(m.error().kind() == ErrorKind::kInvalidInput);
      break;
    }
    default: CheckWriters(text); break;
  }
  return 0;
}
