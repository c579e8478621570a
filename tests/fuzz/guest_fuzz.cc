// libFuzzer target: any bytes as what a guest image (or a manifest) holds:
// the text of its files through every parser of guest text, the check rules
// that judge what they parse, the editors that rewrite it and the writers that
// print it; the start of a volume through the LUKS header sizing and the
// filesystem probe (docs/hostile-input.md). The first byte picks the reader;
// the rest is the input. Beyond "no crash, no sanitizer report, no uncaught
// exception":
//   - JsonText of anything parses back as JSON;
//   - TerminalSafe leaves no control byte but tab and newline;
//   - the kernel command line and GRUB editors are idempotent: editing
//     their own output changes nothing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/strings.h"
#include "formats/image.h"
#include "formats/io.h"
#include "guestfs/facts.h"
#include "guestfs/inspect.h"
#include "guestfs/version.h"
#include "src/check/rules.h"
#include "src/crypto/luks.h"
#include "src/guest/guest_config.h"
#include "src/outdir/manifest.h"
#include "src/plan/fs_probe.h"

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

// The start of a LUKS volume: every size the sizing returns is within its
// documented bounds, and every refusal is kInvalidInput.
void SizeLuksHeader(std::span<const uint8_t> bytes) {
  if (auto hdr = Luks2HdrSize("fuzz", bytes); hdr.ok()) {
    Require(*hdr == 0 || (*hdr >= 16384 && *hdr <= (4u << 20)));
  } else {
    Require(hdr.error().kind() == ErrorKind::kInvalidInput);
  }
  if (auto total = Luks2MetadataBytes("fuzz", bytes); total.ok()) {
    Require(*total <= 2 * (4u << 20) + (128u << 20));
  } else {
    Require(total.error().kind() == ErrorKind::kInvalidInput);
  }
  if (auto luks1 = Luks1HeaderBytes("fuzz", bytes); luks1.ok()) {
    Require(*luks1 >= kLuks1PhdrBytes && *luks1 <= kMaxLuks1HeaderBytes);
  } else {
    Require(luks1.error().kind() == ErrorKind::kInvalidInput);
  }
}

// The start of a volume as a raw disk, padded to whole sectors, through the
// superblock probe.
void ProbeVolume(std::span<const uint8_t> bytes) {
  std::vector<uint8_t> disk(bytes.begin(), bytes.end());
  disk.resize(std::max<size_t>(128 * 1024, (disk.size() + 511) / 512 * 512));
  auto image = RawImage::Open(std::make_unique<MemFile>("fuzz.img", std::move(disk)));
  if (!image.ok()) return;
  auto probe = ProbeFilesystem(**image, 0, (*image)->virtual_size());
  if (probe.ok()) Require(probe->min_io >= 512 && (probe->min_io & (probe->min_io - 1)) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto lines = Lines(text);
  const std::span<const uint8_t> rest(data + 1, size - 1);
  // The seeds start with a digit: '0' picks reader 0.
  switch (static_cast<uint8_t>(data[0] - '0') % 10) {
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
    case 7: CheckWriters(text); break;
    case 8: SizeLuksHeader(rest); break;
    default: ProbeVolume(rest); break;
  }
  return 0;
}
