#include "guestfs/fstab_spec.h"

#include <cctype>
#include <optional>

#include "base/strings.h"

namespace vhdcrypt::guest {
namespace {

// udev escapes unsafe characters in /dev/disk/by-label names as "\x20".
std::string DecodeUdev(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && std::isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 3]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 2, 2)), nullptr, 16));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

std::string UnquoteValue(std::string s) {
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
    return s.substr(1, s.size() - 2);
  return s;
}

// After "/dev/": sd, vd, xvd or hd.
bool TakeDiskPrefix(SpecCursor& c) { return c.Take("sd") || c.Take("vd") || c.Take("xvd") || c.Take("hd"); }

// /dev/sdXN, /dev/vdXN, /dev/xvdXN, /dev/hdXN as (disk index, partition):
// the appliance attaches the OS image first and the --data disks after it.
struct DiskPartition {
  int disk = 0;
  int partition = 0;
};
std::optional<DiskPartition> ParseDiskPartition(std::string_view spec) {
  SpecCursor c(spec);
  if (!c.Take("/dev/") || !TakeDiskPrefix(c)) return std::nullopt;
  const std::string_view letters = c.Run('a', 'z');
  const std::string_view digits = c.Digits();
  if (!c.AtEnd() || letters.empty() || letters.size() > 3 || digits.size() > 6) return std::nullopt;
  int disk = 0;  // bijective base 26: a=0, z=25, aa=26
  for (char ch : letters) disk = disk * 26 + (ch - 'a' + 1);
  int partition = 0;
  for (char ch : digits) partition = partition * 10 + (ch - '0');
  return DiskPartition{disk - 1, partition};
}

}  // namespace

std::string DecodeFstab(std::string_view s) {
  auto oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

bool IsKernelDeviceName(std::string_view spec) {
  auto optional_partition = [](SpecCursor& c) { return !c.Take("p") || !c.Digits().empty(); };
  {
    SpecCursor c(spec);
    if (c.Take("/dev/") && TakeDiskPrefix(c) && !c.Run('a', 'z').empty() && c.RestIsDigits()) return true;
  }
  {
    SpecCursor c(spec);
    if (c.Take("/dev/nvme") && !c.Digits().empty() && c.Take("n") && !c.Digits().empty() && optional_partition(c) &&
        c.AtEnd())
      return true;
  }
  SpecCursor c(spec);
  return c.Take("/dev/mmcblk") && !c.Digits().empty() && optional_partition(c) && c.AtEnd();
}

Resolved ResolveFstabSpec(const std::string& raw_spec, const std::vector<Filesystem>& filesystems) {
  const std::string spec = DecodeFstab(raw_spec);
  enum Key { kUuid, kLabel, kPartUuid, kPartLabel };
  struct Prefix {
    const char* text;
    Key key;
    bool udev;
  };
  static const Prefix kPrefixes[] = {
      {"UUID=", kUuid, false},
      {"LABEL=", kLabel, false},
      {"PARTUUID=", kPartUuid, false},
      {"PARTLABEL=", kPartLabel, false},
      {"/dev/disk/by-uuid/", kUuid, true},
      {"/dev/disk/by-label/", kLabel, true},
      {"/dev/disk/by-partuuid/", kPartUuid, true},
      {"/dev/disk/by-partlabel/", kPartLabel, true},
  };
  for (const auto& p : kPrefixes) {
    if (!StartsWith(spec, p.text)) continue;
    std::string value = spec.substr(std::string_view(p.text).size());
    value = p.udev ? DecodeUdev(value) : UnquoteValue(value);
    for (const auto& fs : filesystems) {
      bool match = false;
      switch (p.key) {
        case kUuid: match = !fs.uuid.empty() && EqualsNoCase(fs.uuid, value); break;
        case kLabel: match = !fs.label.empty() && fs.label == value; break;
        case kPartUuid: match = !fs.partuuid.empty() && EqualsNoCase(fs.partuuid, value); break;
        case kPartLabel: match = !fs.partlabel.empty() && fs.partlabel == value; break;
      }
      if (match) return {Resolution::kResolved, &fs};
    }
    return {Resolution::kUnresolved, nullptr};
  }
  if (auto dp = ParseDiskPartition(spec)) {
    for (const auto& fs : filesystems) {
      if (!fs.on_lvm && fs.disk == dp->disk && fs.partition == dp->partition) return {Resolution::kResolved, &fs};
    }
    return {Resolution::kUnresolved, nullptr};
  }
  std::string device = spec;
  if (StartsWith(spec, "/dev/mapper/")) {
    // device-mapper doubles a '-' inside a name: vg--a-root is VG "vg-a", LV "root".
    const std::string name = spec.substr(12);
    for (size_t i = 0; i < name.size(); ++i) {
      if (name[i] != '-') continue;
      if (i + 1 < name.size() && name[i + 1] == '-') {
        ++i;
        continue;
      }
      auto undouble = [](std::string s) {
        for (size_t j = s.find("--"); j != std::string::npos; j = s.find("--", j + 1)) s.erase(j, 1);
        return s;
      };
      device = "/dev/" + undouble(name.substr(0, i)) + "/" + undouble(name.substr(i + 1));
      break;
    }
  }
  for (const auto& fs : filesystems) {
    if (fs.device == device || fs.device == spec) return {Resolution::kResolved, &fs};
  }
  return {Resolution::kUnknown, nullptr};
}

}  // namespace vhdcrypt::guest
