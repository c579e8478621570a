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
//     their own output changes nothing;
//   - the fstab and crypttab editors round-trip: what they write parses back
//     to the entries they meant (only the device field changed, one /boot
//     line added, one line per volume), and composing crypttab again changes
//     nothing;
//   - a key file is taken whole or refused (never cut at a NUL), and a PEM
//     file either wraps to one RSA block or is refused as a usage or input
//     error.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
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
#include "guestfs/os_identity.h"
#include "guestfs/version.h"
#include "src/check/rules.h"
#include "src/crypto/kek.h"
#include "src/crypto/luks.h"
#include "src/crypto/secret.h"
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
  facts.filesystems.resize(2);
  facts.filesystems[0].device = "/dev/sda1", facts.filesystems[0].uuid = "b007", facts.filesystems[0].partition = 1;
  facts.filesystems[1].device = "/dev/vg0/root", facts.filesystems[1].label = "root",
  facts.filesystems[1].on_lvm = true;
  // What inspection would mount: every mount point absolute, canonical, not /.
  for (const auto& [mp, dev] : guest::FstabMountpoints(facts.fstab, facts.filesystems)) {
    Require(mp.size() > 1 && mp[0] == '/' && mp.back() != '/' && mp.find("//") == std::string::npos);
    Require(dev == "/dev/sda1" || dev == "/dev/vg0/root");
  }
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

// Parse, edit, parse: RewriteFstab changes the device field of every entry
// and nothing the parser sees besides; AddBootToFstab adds exactly one /boot
// entry after the root's line.
void EditFstab(const std::vector<std::string>& lines) {
  const auto entries = guest::ParseFstab(lines);
  std::map<int, std::string> specs;
  int root_line = 0;
  for (const auto& e : entries) {
    specs[e.line] = "UUID=0571e000-0000-4000-8000-" + std::to_string(100000000000 + e.line);
    if (e.file == "/" && root_line == 0) root_line = e.line;
  }
  const auto rewritten = RewriteFstab(lines, specs);
  Require(rewritten.size() == lines.size());
  const auto again = guest::ParseFstab(rewritten);
  Require(again.size() == entries.size());
  for (size_t i = 0; i < again.size(); ++i) {
    Require(again[i].line == entries[i].line && again[i].spec == specs[entries[i].line]);
    Require(again[i].file == entries[i].file && again[i].vfstype == entries[i].vfstype);
    Require(again[i].options == entries[i].options && again[i].passno == entries[i].passno);
  }
  const std::string boot_uuid = "0571e000-0000-4000-8000-00000000b007";
  auto count_boot = [&](const std::vector<guest::FstabEntry>& es) {
    return std::count_if(es.begin(), es.end(),
                         [&](const auto& e) { return e.file == "/boot" && e.spec == "UUID=" + boot_uuid; });
  };
  const auto with_boot = guest::ParseFstab(AddBootToFstab(rewritten, root_line, boot_uuid));
  Require(with_boot.size() == again.size() + 1);
  Require(count_boot(with_boot) == count_boot(again) + 1);
}

// ComposeCrypttab keeps the guest's lines, replaces a line of the same name,
// and is idempotent.
void EditCrypttab(const std::vector<std::string>& lines) {
  const std::vector<CrypttabVolume> volumes = {OsCrypttabVolume({true, "0571e000-01", ""}),
                                               {MapperName("0571e000-0000-4000-8000-000000000d01"),
                                                "0571e000-0000-4000-8000-000000000d01", "none", "luks,nofail", ""}};
  const std::string once = ComposeCrypttab(lines, volumes);
  const auto parsed = guest::ParseCrypttab(Lines(once));
  for (const auto& v : volumes) {
    Require(std::count_if(parsed.begin(), parsed.end(), [&](const auto& e) { return e.name == v.name; }) == 1);
  }
  Require(ComposeCrypttab(Lines(once), volumes) == once);
}

// The bytes as a key file, and as a KEK PEM file, through the readers the
// commands use (a memfd, named by its /proc path).
void ReadKeyAndPem(std::span<const uint8_t> bytes) {
  const int fd = memfd_create("fuzz-key", MFD_CLOEXEC);
  if (fd < 0) return;
  if (!bytes.empty() && write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    close(fd);
    return;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (auto key = ReadKeyFile(path); key.ok()) {
    Require(key->size() == bytes.size() && std::memchr(key->data(), 0, key->size()) == nullptr);
  } else {
    Require(key.error().kind() == ErrorKind::kUsage || key.error().kind() == ErrorKind::kIo);
  }
  static const uint8_t kPassphrase[32] = {1, 2, 3};
  for (KekAlg alg : {KekAlg::kRsaOaep, KekAlg::kRsaOaep256}) {
    if (auto wrapped = WrapPassphrase(path, alg, kPassphrase); wrapped.ok()) {
      Require(wrapped->size() >= 256);  // one block of an RSA key of 2048 bits or more
    } else {
      const ErrorKind k = wrapped.error().kind();
      Require(k == ErrorKind::kUsage || k == ErrorKind::kInvalidInput);
    }
  }
  close(fd);
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

// A LUKS2 metadata JSON (as libcryptsetup dumps it) into key slots and
// tokens: numbers within 3 digits, both lists sorted, every slot named.
void ReadKeySlots(const std::string& text) {
  LuksInfo info;
  KeySlotsAndTokensFromJson(text, info);
  for (size_t i = 0; i < info.key_slots.size(); ++i) {
    const LuksKeySlot& k = info.key_slots[i];
    Require(k.slot >= 0 && k.slot <= 999 && !k.kind.empty());
    Require(i == 0 || info.key_slots[i - 1].slot <= k.slot);
  }
  for (size_t i = 0; i < info.tokens.size(); ++i) {
    const LuksToken& t = info.tokens[i];
    Require(t.id >= 0 && t.id <= 999);
    Require(i == 0 || info.tokens[i - 1].id <= t.id);
    for (int s : t.keyslots) Require(s >= 0 && s <= 999);
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
  // The seeds start with a digit, ':', ';' or '<': '0' picks reader 0, ':' 10.
  switch (static_cast<uint8_t>(data[0] - '0') % 13) {
    case 0: JudgeFstab(lines); break;
    case 1:
      guest::OsReleaseValue(lines, "ID");
      guest::OsReleaseValue(lines, "VERSION_ID");
      guest::AgentVersionFromSource(lines);
      // Every release file reads as this text: identification ends, with a
      // version it could read or none.
      {
        const auto id = guest::IdentifyLinux([&](const std::string&) { return std::optional(lines); });
        Require(!id.distro.empty() && id.major >= 0 && id.minor >= 0);
      }
      guest::ElfArchitecture(rest);
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
    case 9: ProbeVolume(rest); break;
    case 10:
      EditFstab(lines);
      EditCrypttab(lines);
      break;
    case 12: ReadKeySlots(text); break;
    default: ReadKeyAndPem(rest); break;
  }
  return 0;
}
