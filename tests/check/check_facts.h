// Hand-built guest::Facts for the rule tests: a clean Ubuntu 22.04 guest that
// no rule objects to, which each test breaks in one place.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "guestfs/facts.h"
#include "src/check/rules.h"

namespace vhdcrypt::check_test {

using guest::Facts;
using guest::Filesystem;
using guest::FstabEntry;

inline constexpr uint64_t kMiB = 1024 * 1024;
inline constexpr uint64_t kGiB = 1024 * kMiB;
inline constexpr const char* kKernel = "5.15.0-1051-azure";
inline constexpr const char* kRootUuid = "9f3c2d1e-6b1a-4f7e-9d2c-0a1b2c3d4e5f";
inline constexpr const char* kBootUuid = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5";
inline constexpr const char* kDataUuid = "7e6d5c4b-3a29-4817-9605-f4e3d2c1b0a9";
inline constexpr const char* kLogsUuid = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901";

inline FstabEntry Line(int n, std::string spec, std::string file, std::string type, std::string options,
                       int passno = 2) {
  FstabEntry e;
  e.line = n;
  e.spec = std::move(spec);
  e.file = std::move(file);
  e.vfstype = std::move(type);
  e.options = std::move(options);
  e.passno = passno;
  e.text = e.spec + " " + e.file + " " + e.vfstype + " " + e.options + " 0 " + std::to_string(passno);
  return e;
}

inline Filesystem Fs(std::string device, int disk, int partition, std::string type, std::string uuid,
                     std::string label = "") {
  Filesystem f;
  f.device = std::move(device);
  f.disk = disk;
  f.partition = partition;
  f.type = std::move(type);
  f.uuid = std::move(uuid);
  f.label = std::move(label);
  f.size = 10 * kGiB;
  return f;
}

inline guest::Kernel FullKernel(std::string version) {
  guest::Kernel k;
  k.version = std::move(version);
  k.has_modules_dep = true;
  for (const char* m : {"vfat", "fat", "nls_cp437", "nls_iso8859_1", "nls_utf8", "dm_crypt"}) {
    k.modules[m].loadable = true;
  }
  return k;
}

// A clean Ubuntu 22.04 guest as Azure's marketplace image lays it out, plus a
// data disk: nothing for `check` to say.
inline Facts Baseline() {
  Facts f;
  f.image = "ubuntu.vhd";
  f.data_disks = {"data.vhd"};
  f.os.found = true;
  f.os.root = "/dev/sda1";
  f.os.type = "linux";
  f.os.distro = "ubuntu";
  f.os.product_name = "Ubuntu 22.04.3 LTS";
  f.os.major = 22;
  f.os.minor = 4;
  f.os.arch = "x86_64";
  f.os.os_release_id = "ubuntu";
  f.os.os_release_version_id = "22.04";
  f.filesystems = {
      Fs("/dev/sda1", 0, 1, "ext4", kRootUuid, "cloudimg-rootfs"),
      Fs("/dev/sda15", 0, 15, "vfat", "ABCD-1234", "UEFI"),
      Fs("/dev/sda16", 0, 16, "ext4", kBootUuid, "BOOT"),
      Fs("/dev/sdb1", 1, 1, "ext4", kDataUuid, "data"),
  };
  f.filesystems[0].partuuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
  f.fstab_present = true;
  f.fstab = {
      Line(1, "LABEL=cloudimg-rootfs", "/", "ext4", "discard,errors=remount-ro", 1),
      Line(2, std::string("UUID=") + kBootUuid, "/boot", "ext4", "defaults"),
      Line(3, "LABEL=UEFI", "/boot/efi", "vfat", "umask=0077", 1),
      Line(4, std::string("UUID=") + kDataUuid, "/data", "ext4", "defaults,nofail"),
      Line(5, "/swapfile", "none", "swap", "sw", 0),
  };
  f.kernels = {FullKernel(kKernel)};
  f.initramfs_tool = "initramfs-tools";
  f.cryptsetup_installed = true;
  f.cryptsetup_initramfs_installed = true;
  f.root_on_lvm = false;
  f.separate_boot = true;
  f.boot_device = "/dev/sda16";
  f.boot_fstype = "ext4";
  f.boot_total_bytes = 1 * kGiB;
  f.boot_free_bytes = 900 * kMiB;
  f.has_esp = true;
  f.agent_version = "2.9.1.1";
  f.root_total_bytes = 30 * kGiB;
  f.root_used_bytes = 3 * kGiB;
  return f;
}

inline Facts Debian12() {
  Facts f = Baseline();
  f.image = "debian.vhd";
  f.os.distro = "debian";
  f.os.product_name = "Debian GNU/Linux 12 (bookworm)";
  f.os.major = 12;
  f.os.minor = 2;
  f.os.os_release_id = "debian";
  f.os.os_release_version_id = "12";
  f.kernels = {FullKernel("6.1.0-13-amd64")};
  f.agent_version.reset();
  return f;
}

inline std::vector<Finding> Check(const Facts& f, Policy policy = Policy::kAzure, VolumeType vt = VolumeType::kAll) {
  return RunRules(f, CheckOptions{policy, vt});
}

inline std::vector<Finding> Only(const std::vector<Finding>& findings, const std::string& id) {
  std::vector<Finding> out;
  for (const auto& f : findings) {
    if (f.id == id) out.push_back(f);
  }
  return out;
}

inline bool Has(const std::vector<Finding>& findings, const std::string& id) { return !Only(findings, id).empty(); }

// For failure messages: every finding, one per line.
inline std::string Dump(const std::vector<Finding>& findings) {
  std::string s;
  for (const auto& f : findings)
    s += std::string(SeverityName(f.severity)) + " " + f.id + " " + f.subject + ": " + f.message + "\n";
  return s;
}

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Exactly one finding with this id: checks severity, subject and that the
// message names the offending thing. Returns it for further checks.
inline Finding ExpectOne(const std::vector<Finding>& findings, const std::string& id, Severity severity,
                         const std::string& subject, const std::string& in_message) {
  auto hits = Only(findings, id);
  EXPECT_EQ(hits.size(), 1u) << Dump(findings);
  if (hits.empty()) return Finding{};
  EXPECT_EQ(hits[0].severity, severity) << Dump(findings);
  EXPECT_EQ(hits[0].subject, subject) << Dump(findings);
  EXPECT_TRUE(Contains(hits[0].message, in_message)) << hits[0].message;
  EXPECT_FALSE(hits[0].remedy.empty());
  return hits[0];
}

inline guest::ModprobeRule Rule(std::string file, int line, std::string module, guest::ModprobeRule::Kind kind,
                                std::string text) {
  guest::ModprobeRule r;
  r.file = std::move(file);
  r.line = line;
  r.module = std::move(module);
  r.kind = kind;
  r.text = std::move(text);
  return r;
}

}  // namespace vhdcrypt::check_test
