// Collects guest::Facts from an OS image (and optional data disks) in one
// read-only appliance launch. Nothing is written to any image.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "formats/image.h"
#include "guestfs/facts.h"

namespace vhdcrypt::guest {

struct InspectOptions {
  std::string image;
  FormatHint format = FormatHint::kAuto;
  std::vector<std::string> data_disks;  // opened with format auto-detected by vhdcrypt
};

// The libguestfs drive format for a container: "vpc" or "raw".
const char* GuestfsFormat(ContainerKind kind);

// The appliance's name for the index-th drive added (0: /dev/sda; 26: /dev/sdaa)
// and for its partition `partition` (0: the whole disk).
std::string ApplianceDevice(size_t index, uint32_t partition = 0);
// The inverse: /dev/sdb3 -> disk 1, partition 3 (0 for a whole disk).
int ApplianceDiskIndex(const std::string& dev);
int AppliancePartitionNumber(const std::string& dev);
// How the user names an appliance device: /dev/sdb2 is "data.vhd partition 2"
// when images[1] is data.vhd, /dev/sdc is "bek.vhd"; other names (logical
// volumes, mappings, drives past the list) are returned as they are.
std::string UserDeviceName(const std::vector<std::string>& images, const std::string& dev);
// A file on a filesystem, as the user names it: "/luks/osluksheader on
// disk.vhd partition 1" (a detached LUKS header and the partition holding it).
std::string UserFileName(const std::vector<std::string>& images, const std::string& dev, const std::string& file);

// The appliance kernel probes its SCSI disks in parallel, so the kernel's
// /dev/sdb need not be the second drive added; libguestfs translates the
// names it is given (by the order of /dev/disk/by-path), but a command line
// run inside the appliance gets the kernel's names. KernelDiskListing is the
// shell command that lists what the translation needs; ParseKernelDisks reads
// its output into the kernel's disk names in the order the drives were added,
// the appliance's own root disk left out (as libguestfs' daemon does); an
// error when the listing is malformed or lists no disk.
extern const char kKernelDiskListing[];
Result<std::vector<std::string>> ParseKernelDisks(const std::string& listing);
// A libguestfs name (/dev/sdb3) as the kernel's, given ParseKernelDisks'
// result; names that are not /dev/sdX[N] (LVs, /dev/mapper/...) are kept.
Result<std::string> KernelDeviceName(const std::string& dev, const std::vector<std::string>& kernel_disks);

// Validates every container with formats/ first (so a malformed image is
// kInvalidInput, exit 3, not a libguestfs failure), then inspects.
Result<Facts> CollectFacts(const InspectOptions& options);

// Parsers of guest files, exposed for unit tests.
std::vector<FstabEntry> ParseFstab(const std::vector<std::string>& lines);
std::vector<CrypttabEntry> ParseCrypttab(const std::vector<std::string>& lines);
std::vector<ModprobeRule> ParseModprobe(const std::string& file, const std::vector<std::string>& lines);
// "KEY=value" lines, quotes removed.
std::string OsReleaseValue(const std::vector<std::string>& lines, const std::string& key);
// AGENT_VERSION = '2.2.45' in azurelinuxagent/common/version.py.
std::string AgentVersionFromSource(const std::vector<std::string>& lines);
// Module name of a modules.dep / modules.builtin path: "kernel/fs/fat/vfat.ko.xz" -> "vfat";
// dashes become underscores ("dm-crypt" -> "dm_crypt").
std::string ModuleNameFromPath(const std::string& path);

}  // namespace vhdcrypt::guest
