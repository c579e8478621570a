#include "src/guest/guest_config.h"

#include <algorithm>
#include <sstream>

#include "base/strings.h"
#include "guestfs/facts.h"

namespace vhdcrypt {

std::vector<std::string> RewriteFstab(const std::vector<std::string>& lines,
                                      const std::map<int, std::string>& spec_by_line) {
  std::vector<std::string> out = lines;
  for (const auto& [line, spec] : spec_by_line) {
    if (line < 1 || static_cast<size_t>(line) > out.size()) continue;
    std::string& text = out[line - 1];
    const size_t begin = text.find_first_not_of(kBlanks);
    if (begin == std::string::npos) continue;
    size_t end = text.find_first_of(kBlanks, begin);
    if (end == std::string::npos) end = text.size();
    text.replace(begin, end - begin, spec);
  }
  return out;
}

std::vector<std::string> AddBootToFstab(const std::vector<std::string>& lines, int root_line,
                                        const std::string& fs_uuid) {
  std::vector<std::string> out;
  const auto add = [&] {
    out.push_back("# /boot moved out of / by vhdcrypt (the root filesystem is encrypted)");
    out.push_back("UUID=" + fs_uuid + " /boot ext4 defaults 0 2");
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    out.push_back(lines[i]);
    if (static_cast<int>(i) + 1 == root_line) add();
  }
  if (root_line < 1 || root_line > static_cast<int>(lines.size())) add();
  return out;
}

std::string MapperName(const std::string& luks_uuid) { return "luks-" + luks_uuid; }

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

namespace {

// "a b c".
template <typename Range>
std::string JoinWords(const Range& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

// The first whitespace-separated field of a crypttab line ("" for comments
// and blank lines).
std::string FirstField(const std::string& line) {
  const size_t begin = line.find_first_not_of(kBlanks);
  if (begin == std::string::npos || line[begin] == '#') return "";
  const size_t end = line.find_first_of(kBlanks, begin);
  return line.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

constexpr char kCrypttabComment[] = "# volumes encrypted by vhdcrypt";

}  // namespace

std::string ComposeCrypttab(const std::vector<std::string>& existing, const std::vector<CrypttabVolume>& volumes) {
  std::vector<std::string> kept;
  for (const std::string& line : existing) {
    const std::string name = FirstField(line);
    const bool replaced = std::any_of(volumes.begin(), volumes.end(),
                                      [&](const CrypttabVolume& v) { return !name.empty() && v.name == name; });
    if (!replaced && line != kCrypttabComment) kept.push_back(line);
  }
  std::string s = JoinLines(kept);
  s += std::string(kCrypttabComment) + "\n";
  for (const auto& v : volumes) {
    s += v.name + " " + (v.source.empty() ? "UUID=" + v.luks_uuid : v.source) + " " + v.key_file + " " + v.options +
         "\n";
  }
  return s;
}

std::string OsVolumeSource(const std::string& partuuid) { return "/dev/disk/by-partuuid/" + partuuid; }

namespace {

// The OS volume's crypttab name, device and header option ("luks" and, when
// detached, header=).
CrypttabVolume OsVolume(const OsVolumeRef& ref) {
  CrypttabVolume v;
  v.name = kOsMapperName;
  if (ref.detached) {
    v.source = OsVolumeSource(ref.partuuid);
    v.options = std::string("luks,header=") + kOsHeaderPath;
  } else {
    v.luks_uuid = ref.luks_uuid;
    v.options = "luks";
  }
  return v;
}

}  // namespace

CrypttabVolume OsCrypttabVolume(const OsVolumeRef& ref) {
  CrypttabVolume v = OsVolume(ref);
  v.key_file = "none";
  v.options += std::string(",keyscript=") + kKeyscriptPath + ",initramfs,tries=1";
  return v;
}

CrypttabVolume OsCrypttabVolumeDracut(const OsVolumeRef& ref) {
  CrypttabVolume v = OsVolume(ref);
  v.key_file = DataVolumeKeyField();
  v.options += ",x-initrd.attach,force,tries=1";
  return v;
}

std::string DracutConfText(bool lvm, const std::vector<std::string>& storage_drivers, bool detached_header) {
  std::string text = std::string("# Written by vhdcrypt: the root volume is LUKS2 with its header ") +
                     (detached_header ? "detached in\n# /boot/luks/osluksheader" : "in front of its data") +
                     "; the initramfs opens it with the passphrase file on\n"
                     "# the key volume (vfat, label \"BEK VOLUME\"), as /etc/crypttab says.\n";
  text += std::string("add_dracutmodules+=\" crypt dm rootfs-block") + (lvm ? " lvm" : "") + " \"\n";
  text += "add_drivers+=\" dm_crypt vfat nls_cp437 nls_iso8859_1 nls_utf8 nls_ascii \"\n";
  if (!storage_drivers.empty()) {
    text += "# The disks of Azure and KVM, whatever the machine this was made on had.\n";
    text += "add_drivers+=\" " + JoinWords(storage_drivers) + " \"\n";
  }
  text += std::string("install_items+=\" /etc/crypttab ") + (detached_header ? kOsHeaderPath + std::string(" ") : "") +
          "\"\n";
  return text;
}

// udev names the key volume's by-label link with the space escaped; systemd
// takes crypttab fields literally, so this is the path as it exists.
std::string DataVolumeKeyField() { return "/LinuxPassPhraseFileName:/dev/disk/by-label/BEK\\x20VOLUME"; }

std::string KeyscriptText() {
  return R"(#!/bin/sh
# Installed by vhdcrypt. cryptsetup's keyscript in the initramfs: prints the
# passphrase from the key volume, a vfat filesystem labelled "BEK VOLUME"
# holding it in LinuxPassPhraseFileName (Azure attaches one at boot; vhdcrypt
# writes bek.vhd). Without the key volume it prints nothing and fails, so the
# root volume stays locked and the boot stops in the initramfs.
dev='/dev/disk/by-label/BEK\x20VOLUME'
mnt=/run/vhdcrypt-bek
waited=/run/vhdcrypt-bek.waited
for m in vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859_1; do
  modprobe -q "$m" 2>/dev/null
done
# Wait for udev once; later attempts of the same boot do not wait again.
wait=15
[ -e "$waited" ] && wait=1
i=0
while [ ! -e "$dev" ] && [ "$i" -lt "$wait" ]; do
  sleep 1
  i=$((i + 1))
done
: > "$waited"
if [ ! -e "$dev" ]; then
  echo "vhdcrypt: no key volume (vfat labelled BEK VOLUME) is attached" >&2
  exit 1
fi
mkdir -p "$mnt"
if ! mount -t vfat -o ro "$dev" "$mnt"; then
  echo "vhdcrypt: cannot mount the key volume" >&2
  exit 1
fi
rc=0
if [ -r "$mnt/LinuxPassPhraseFileName" ]; then
  cat "$mnt/LinuxPassPhraseFileName"
else
  echo "vhdcrypt: the key volume has no LinuxPassPhraseFileName" >&2
  rc=1
fi
umount "$mnt"
exit "$rc"
)";
}

std::string InitramfsHookText() {
  return R"(#!/bin/sh
# Installed by vhdcrypt. Puts the OS volume's detached LUKS header into the
# initramfs at the path crypttab's header= names (cryptsetup-initramfs does
# not copy it), and the modules the key volume needs.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in
  prereqs) prereqs; exit 0 ;;
esac
. /usr/share/initramfs-tools/hook-functions
if [ -f /boot/luks/osluksheader ]; then
  mkdir -p "${DESTDIR}/boot/luks"
  cp /boot/luks/osluksheader "${DESTDIR}/boot/luks/osluksheader"
fi
for m in vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859_1 dm_crypt; do
  manual_add_modules "$m"
done
# The cipher, aes-xts-plain64 (with its dependencies): cryptroot adds the
# cipher's modules only for volumes it sees as LUKS, and the OS volume is not
# LUKS yet when this runs (nor LUKS-signed ever: its header is detached).
# With MODULES=most they are there anyway, with MODULES=dep they are not.
for m in xts aes_generic aesni_intel aes_ce_blk; do
  manual_add_modules "$m"
done
# The disks of Azure (Hyper-V, NVMe) and KVM, also with MODULES=dep: this
# initramfs may have been made on a machine with other disks. Loaded by udev
# when the hardware is there; a kernel without one of them just skips it.
for m in )" +
         JoinWords(guest::kBootStorageDrivers) + R"(; do
  manual_add_modules "$m"
done
)";
}

std::string InitramfsModulesText(const std::vector<std::string>& existing) {
  std::vector<std::string> lines = existing;
  for (const char* m : {"vfat", "nls_cp437", "nls_ascii", "nls_utf8", "nls_iso8859_1", "dm_crypt"}) {
    const bool listed =
        std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return FirstField(l) == m; });
    if (!listed) lines.push_back(m);
  }
  return JoinLines(lines);
}

}  // namespace vhdcrypt

namespace vhdcrypt {
namespace {

bool IsBlocking(const std::string& word) {
  static const char* const kOff[] = {"rd.luks=0", "rd.luks=no", "rd.luks.crypttab=0", "rd.luks.crypttab=no",
                                     "luks=0",    "luks=no",    "luks.crypttab=0",    "luks.crypttab=no"};
  for (const char* off : kOff) {
    if (word == off) return true;
  }
  return false;
}

}  // namespace

std::string EditKernelCmdline(const std::string& cmdline, const CmdlineEdit& edit, std::vector<std::string>* changes) {
  std::istringstream in(cmdline);
  std::vector<std::string> kept;
  std::string word;
  const std::string partuuid = Lower(edit.os_partuuid);
  while (in >> word) {
    if (IsBlocking(word)) {
      if (changes != nullptr) changes->push_back("removed " + word);
      continue;
    }
    if (!partuuid.empty() && !edit.root_mapping.empty() && word.rfind("root=", 0) == 0) {
      const std::string value = Lower(word.substr(5));
      if (value == "partuuid=" + partuuid || value == "/dev/disk/by-partuuid/" + partuuid) {
        std::string replaced = "root=" + edit.root_mapping;
        if (changes != nullptr) changes->push_back(word + " -> " + replaced);
        word = replaced;
      }
    }
    kept.push_back(word);
  }
  std::string out;
  for (const auto& w : kept) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::vector<std::string> EditGrubDefaults(const std::vector<std::string>& lines, const CmdlineEdit& edit,
                                          std::vector<std::string>* changes) {
  std::vector<std::string> out;
  out.reserve(lines.size());
  for (const std::string& line : lines) {
    // [indent][export ]GRUB_CMDLINE_LINUX[_DEFAULT]=VALUE[rest]
    size_t i = line.find_first_not_of(" \t");
    if (i != std::string::npos && line.compare(i, 7, "export ") == 0) i = line.find_first_not_of(" \t", i + 7);
    size_t eq = std::string::npos;
    for (const char* key : {"GRUB_CMDLINE_LINUX=", "GRUB_CMDLINE_LINUX_DEFAULT="}) {
      const std::string k = key;
      if (i != std::string::npos && line.compare(i, k.size(), k) == 0) eq = i + k.size();
    }
    if (eq == std::string::npos) {
      out.push_back(line);
      continue;
    }
    char quote = '\0';
    size_t begin = eq, stop;
    if (eq < line.size() && (line[eq] == '"' || line[eq] == '\'')) {
      quote = line[eq];
      begin = eq + 1;
      stop = line.find(quote, begin);
      if (stop == std::string::npos) {  // continued on the next line: leave it to the guest's tools
        out.push_back(line);
        continue;
      }
    } else {
      stop = line.find_first_of(" \t#;", eq);
      if (stop == std::string::npos) stop = line.size();
    }
    std::vector<std::string> here;
    const std::string edited = EditKernelCmdline(line.substr(begin, stop - begin), edit, &here);
    if (here.empty()) {
      out.push_back(line);
      continue;
    }
    if (changes != nullptr) changes->insert(changes->end(), here.begin(), here.end());
    const std::string rest = line.substr(quote == '\0' ? stop : stop + 1);
    // A bare value that now has spaces (or nothing) gets double quotes.
    if (quote == '\0' && (edited.empty() || edited.find(' ') != std::string::npos)) quote = '"';
    std::string rebuilt = line.substr(0, eq);
    if (quote != '\0') {
      rebuilt += quote + edited + quote;
    } else {
      rebuilt += edited;
    }
    out.push_back(rebuilt + rest);
  }
  return out;
}

}  // namespace vhdcrypt
