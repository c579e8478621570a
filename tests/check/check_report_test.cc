#include "src/check/report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/check/rules.h"
#include "tests/check/check_facts.h"

namespace vhdcrypt::check_test {
namespace {

std::vector<std::string> Keys(const nlohmann::ordered_json& j) {
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  return keys;
}

TEST(CheckJson, ShapeAndOk) {
  Facts f = Baseline();
  auto j = CheckJson(f, Check(f));
  EXPECT_EQ(Keys(j), (std::vector<std::string>{"image", "os", "findings", "ok"}));
  EXPECT_EQ(Keys(j["os"]),
            (std::vector<std::string>{"distro", "product_name", "major", "minor", "arch", "type", "root"}));
  EXPECT_EQ(j["image"], "ubuntu.vhd");
  EXPECT_EQ(j["os"]["distro"], "ubuntu");
  EXPECT_EQ(j["os"]["product_name"], "Ubuntu 22.04.3 LTS");
  EXPECT_EQ(j["os"]["major"], 22);
  EXPECT_EQ(j["os"]["minor"], 4);
  EXPECT_EQ(j["os"]["arch"], "x86_64");
  EXPECT_EQ(j["os"]["type"], "linux");
  EXPECT_EQ(j["os"]["root"], "/dev/sda1");
  EXPECT_TRUE(j["findings"].is_array());
  EXPECT_TRUE(j["findings"].empty());
  EXPECT_EQ(j["ok"], true);

  f.fstab[3].options = "defaults";
  f.selinux_mode = "enforcing";
  j = CheckJson(f, Check(f));
  ASSERT_EQ(j["findings"].size(), 2u);
  EXPECT_EQ(Keys(j["findings"][0]), (std::vector<std::string>{"id", "severity", "message", "remedy", "subject"}));
  EXPECT_EQ(j["findings"][0]["id"], "fstab-missing-nofail");
  EXPECT_EQ(j["findings"][0]["severity"], "error");
  EXPECT_EQ(j["findings"][0]["subject"], "/etc/fstab:4");
  EXPECT_EQ(j["findings"][1]["severity"], "info");
  EXPECT_EQ(j["ok"], false);
}

TEST(CheckJson, WarningsAndInfoAreStillOk) {
  Facts f = Baseline();
  f.selinux_mode = "enforcing";
  f.legacy_ade_traces = {"/etc/azure_disk_encryption"};
  EXPECT_EQ(CheckJson(f, Check(f))["ok"], true);
}

TEST(CheckJson, NoOsKeepsTheShape) {
  Facts f;
  f.image = "blank.vhd";
  auto j = CheckJson(f, Check(f));
  EXPECT_EQ(Keys(j["os"]),
            (std::vector<std::string>{"distro", "product_name", "major", "minor", "arch", "type", "root"}));
  EXPECT_EQ(j["findings"][0]["id"], "distro-unsupported");
  EXPECT_EQ(j["ok"], false);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

TEST(CheckText, ReadyWhenClean) {
  auto lines = Lines(CheckText(Baseline(), {}));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "ubuntu.vhd: ubuntu 22.4 (Ubuntu 22.04.3 LTS), x86_64, root /dev/sda1");
  EXPECT_EQ(lines[1], "0 errors, 0 warnings, 0 info: ready to encrypt");
}

TEST(CheckText, GroupsErrorsFirstWithRemedies) {
  std::vector<Finding> findings = {
      {"selinux-enforcing", Severity::kInfo, "SELinux is enforcing", "nothing to do", "/etc/selinux/config"},
      {"fstab-unresolved", Severity::kWarning, "UUID=x matches nothing", "attach it with --data DISK", "/etc/fstab:6"},
      {"fstab-missing-nofail", Severity::kError, "data volume UUID=y has no nofail", "add nofail", "/etc/fstab:3"},
      {"boot-too-small", Severity::kError, "/boot has 1 bytes free", "free space", "/dev/sda16"},
  };
  auto lines = Lines(CheckText(Baseline(), findings));
  ASSERT_EQ(lines.size(), 10u) << CheckText(Baseline(), findings);
  EXPECT_EQ(lines[1], "error   fstab-missing-nofail  /etc/fstab:3: data volume UUID=y has no nofail");
  EXPECT_EQ(lines[2], "  fix: add nofail");
  EXPECT_EQ(lines[3], "error   boot-too-small        /dev/sda16: /boot has 1 bytes free");
  EXPECT_EQ(lines[4], "  fix: free space");
  EXPECT_EQ(lines[5], "warning fstab-unresolved      /etc/fstab:6: UUID=x matches nothing");
  EXPECT_EQ(lines[6], "  fix: attach it with --data DISK");
  EXPECT_EQ(lines[7], "info    selinux-enforcing     /etc/selinux/config: SELinux is enforcing");
  EXPECT_EQ(lines[8], "  fix: nothing to do");
  EXPECT_EQ(lines[9], "2 errors, 1 warning, 1 info: not ready");
}

TEST(CheckText, WarningsAloneAreReady) {
  Facts f = Baseline();
  f.legacy_ade_traces = {"/etc/azure_disk_encryption"};
  auto lines = Lines(CheckText(f, Check(f)));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines.back(), "0 errors, 1 warning, 0 info: ready to encrypt");
}

TEST(CheckText, NoOperatingSystem) {
  Facts f;
  f.image = "blank.vhd";
  auto lines = Lines(CheckText(f, Check(f)));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "blank.vhd: no operating system found");
  EXPECT_EQ(lines[1], "error   distro-unsupported  blank.vhd: no operating system found in blank.vhd");
  EXPECT_EQ(lines[3], "1 error, 0 warnings, 0 info: not ready");
}

}  // namespace
}  // namespace vhdcrypt::check_test
