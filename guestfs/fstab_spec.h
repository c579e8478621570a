// How an fstab line names its filesystem, read as the kernel and udev would,
// and which of the filesystems the appliance found that is. Guest text is
// hostile: every matcher here is hand-written, linear in the length of the
// text and without recursion (std::regex recurses once per character, and a
// long spec overflows the stack). Shared by inspection (which filesystems to
// mount where) and the rules (which volumes an entry means).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "guestfs/facts.h"

namespace vhdcrypt::guest {

// A cursor over a device name for the matchers.
class SpecCursor {
 public:
  explicit SpecCursor(std::string_view s) : s_(s) {}
  // Consumes `text` if the rest starts with it.
  bool Take(std::string_view text) {
    if (s_.substr(i_, text.size()) != text) return false;
    i_ += text.size();
    return true;
  }
  // Consumes the longest run of bytes in [lo, hi]; what it consumed.
  std::string_view Run(char lo, char hi) {
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= lo && s_[i_] <= hi) ++i_;
    return s_.substr(start, i_ - start);
  }
  std::string_view Digits() { return Run('0', '9'); }
  bool AtEnd() const { return i_ == s_.size(); }
  // The rest is [0-9]* (none is fine).
  bool RestIsDigits() {
    Digits();
    return AtEnd();
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

// fstab escapes blanks in its fields as octal: "\040" is a space.
std::string DecodeFstab(std::string_view s);

// /dev/(s|v|xv|h)d[a-z]+[0-9]*, /dev/nvme[0-9]+n[0-9]+(p[0-9]+)?, /dev/mmcblk[0-9]+(p[0-9]+)?
// Kernel-assigned names: they follow probe order, which Azure does not keep stable.
bool IsKernelDeviceName(std::string_view spec);

// An fstab spec resolved against the filesystems the appliance found.
// kUnresolved: the spec names a filesystem by something we can match (UUID,
// label, partition id or kernel name) and nothing matches. kUnknown: the spec
// is of a kind we cannot match (by-id, by-path, a crypt mapping, a file).
enum class Resolution { kResolved, kUnresolved, kUnknown };
struct Resolved {
  Resolution how = Resolution::kUnknown;
  const Filesystem* fs = nullptr;  // points into the vector given
};
// UUID=, LABEL=, PARTUUID=, PARTLABEL= and their /dev/disk/by-* links;
// /dev/sdXN and its kin as disk and partition (the OS image is disk 0, the
// --data disks follow in order); /dev/mapper/VG-LV and /dev/VG/LV.
Resolved ResolveFstabSpec(const std::string& raw_spec, const std::vector<Filesystem>& filesystems);

}  // namespace vhdcrypt::guest
