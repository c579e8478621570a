// The rules of `vhdcrypt check`: pure functions from guest::Facts to findings.
// Each rule has a stable id (users grep for it, scripts match on it), a fixed
// severity, a message naming the offending line, file or device, and a remedy.
// No rule touches the image: tests build Facts by hand.
#pragma once

#include <string>
#include <vector>

#include "guestfs/facts.h"

namespace vhdcrypt {

enum class Severity { kError, kWarning, kInfo };

// "error", "warning", "info".
const char* SeverityName(Severity severity);

struct Finding {
  std::string id;  // stable rule id: "fstab-missing-nofail"
  Severity severity = Severity::kError;
  std::string message;  // what is wrong, naming the line, file or device
  std::string remedy;   // what to do about it
  std::string subject;  // where: "/etc/fstab:3", "/dev/sda1", "/lib/modules/6.1.0-13-amd64"
};

// kAzure applies ADE's published support matrix; kGeneric accepts any Linux.
enum class Policy { kAzure, kGeneric };

// What the user intends to encrypt (ADE's VolumeType). Rules about data
// volumes run only when data is included, rules about the OS volume only when
// the OS is included.
enum class VolumeType { kAll, kOs, kData };

struct CheckOptions {
  Policy policy = Policy::kAzure;
  VolumeType volume_type = VolumeType::kAll;
};

// Runs every rule. The result is sorted by severity (errors first), then id,
// then subject (numbers in subjects compare as numbers, so /etc/fstab:3 comes
// before /etc/fstab:10), then message: the same facts always give the same list.
// When no Linux OS is found, only distro-unsupported is reported: the other
// rules would judge a guest that is not there.
std::vector<Finding> RunRules(const guest::Facts& facts, const CheckOptions& options);

struct RuleInfo {
  const char* id;
  Severity severity;
  const char* summary;
};

// Every rule id, in the order documented in the issue; for docs and tests.
const std::vector<RuleInfo>& AllRules();

}  // namespace vhdcrypt
