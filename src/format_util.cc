#include "src/format_util.h"

#include <cstdio>

namespace vhdcrypt {

std::string HumanBytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[64];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%llu (%.2f %s)", static_cast<unsigned long long>(bytes), v, units[u]);
  }
  return buf;
}

Result<FormatHint> ParseFormatHint(const std::string& s) {
  if (s == "auto") return FormatHint::kAuto;
  if (s == "vhd") return FormatHint::kVhd;
  if (s == "raw") return FormatHint::kRaw;
  return UsageError("--format: '" + s + "' is not one of auto, vhd, raw");
}

Result<ContainerKind> ParseContainerKind(const std::string& s) {
  if (s == "raw") return ContainerKind::kRaw;
  if (s == "vhd-fixed") return ContainerKind::kVhdFixed;
  if (s == "vhd-dynamic") return ContainerKind::kVhdDynamic;
  return UsageError("--to: '" + s + "' is not one of vhd-fixed, vhd-dynamic, raw");
}

}  // namespace vhdcrypt
