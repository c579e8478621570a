// Shared between the two halves of the rules: rules.cc (OS, kernel,
// packages, boot) and rules_fstab.cc (fstab, volumes, filesystems).
// Not part of the public API.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "guestfs/facts.h"
#include "src/check/classify.h"
#include "src/check/rules.h"

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

// fstab-nonpersistent-name, fstab-missing-nofail, fstab-under-mnt,
// fstab-nested-mount, fstab-unresolved, already-encrypted, unsupported-filesystem.
void CheckFstabAndVolumes(const guest::Facts& facts, const CheckOptions& options, Findings* out);

}  // namespace vhdcrypt::rules
