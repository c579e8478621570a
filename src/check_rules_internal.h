// Shared between the two halves of the rules: check_rules.cc (OS, kernel,
// packages, boot) and check_rules_fstab.cc (fstab, volumes, filesystems).
// Not part of the public API.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "guestfs/facts.h"
#include "src/check_rules.h"

namespace vhdcrypt::rules {

// Appends findings; the severity comes from AllRules(), so a rule cannot
// report an id at a severity the table does not document.
class Findings {
 public:
  void Add(std::string_view id, std::string subject, std::string message, std::string remedy);
  std::vector<Finding>& list() { return list_; }

 private:
  std::vector<Finding> list_;
};

inline bool IncludesOs(VolumeType t) { return t != VolumeType::kData; }
inline bool IncludesData(VolumeType t) { return t != VolumeType::kOs; }

// An fstab entry resolved against the filesystems the appliance found.
// kUnresolved: the spec names a filesystem by something we can match (UUID,
// label, partition id or kernel name) and nothing matches. kUnknown: the spec
// is of a kind we cannot match (by-id, by-path, a crypt mapping, a file).
enum class Resolution { kResolved, kUnresolved, kUnknown };
struct Resolved {
  Resolution how = Resolution::kUnknown;
  const guest::Filesystem* fs = nullptr;
};

struct Entry {
  const guest::FstabEntry* e = nullptr;
  Resolved r;
  std::string mount;  // decoded, no trailing '/'
  bool skip = false;  // pseudo, network, bind, removable, a file, the resource disk
  bool swap = false;
  // A data volume: anything mounted but /, /boot, /boot/efi and swap, on a
  // data disk or a partition of the OS disk (LVs of the OS disk stay with the
  // OS; an entry that resolves to no disk: anything but the usual OS mount
  // points).
  bool data = false;
  bool checked = false;  // its side (OS or data) is included in the volume type
};

// Resolves and classifies every fstab entry, in fstab order. Shared by the
// rules and by encrypt, so check judges exactly the volumes encrypt touches.
std::vector<Entry> Classify(const guest::Facts& facts, VolumeType volume_type);

// fstab-nonpersistent-name, fstab-missing-nofail, fstab-under-mnt,
// fstab-nested-mount, fstab-unresolved, already-encrypted, unsupported-filesystem.
void CheckFstabAndVolumes(const guest::Facts& facts, const CheckOptions& options, Findings* out);

}  // namespace vhdcrypt::rules
