// encrypt and verify from the command line, on cases that need no appliance:
// usage errors, and --data-only runs on small ext4 disks made by mke2fs.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/cli/run.h"
#include "tests/formats/malformed_case.h"
#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

using testing::RunVhdcrypt;

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// A 64 MiB disk holding ext4 (4 KiB blocks) with one file, made on the host
// by mke2fs -d: no mount, no appliance.
std::string MakeExt4Disk(const testing::TempDir& dir, const std::string& name) {
  const std::string tree = dir / (name + "-tree");
  std::filesystem::create_directories(tree);
  WriteText(tree + "/hello.txt", "hello\n");
  const std::string img = dir / name;
  const std::string cmd = "truncate -s 64M " + img + " && mkfs.ext4 -q -F -b 4096 -d " + tree + " " + img;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return img;
}

TEST(EncryptCli, UsageErrorsComeBeforeAnyWork) {
  testing::TempDir dir;
  const std::string img = dir / "d.raw";
  WriteText(img, std::string(1 << 20, '\0'));
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0700), 0);
  struct Case {
    std::vector<std::string> args;
    const char* expect;
  };
  const Case cases[] = {
      {{"--volume-type", "os", "--data-only"}, "--data-only cannot encrypt the OS volume"},
      {{"--volume-type", "all", "--data-only"}, "--data-only cannot encrypt the OS volume"},
      {{"--volume-type", "everything"}, "--volume-type"},
      {{"--sector-size", "1024"}, "--sector-size"},
      {{"--pbkdf", "scrypt"}, "--pbkdf"},
      {{"--progress", "fancy"}, "--progress"},
      {{"--to", "vmdk"}, "vmdk"},
      {{"--iter-time", "0"}, "--iter-time"},
      {{"--key-file", dir / "missing.key"}, "missing.key: does not exist"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"encrypt", img, "--output-dir", dir / "out"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = RunVhdcrypt(args);
    EXPECT_EQ(r.exit_code, 2) << c.expect << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
  }
  auto no_dir = RunVhdcrypt({"encrypt", img, "--output-dir", dir / "nope"});
  EXPECT_EQ(no_dir.exit_code, 2);
  EXPECT_NE(no_dir.err.find("nope: output directory does not exist"), std::string::npos) << no_dir.err;
  EXPECT_EQ(RunVhdcrypt({"encrypt", img}).exit_code, 2);  // --output-dir is required
  EXPECT_EQ(RunVhdcrypt({"verify", dir / "out"}).exit_code, 2);  // --key-file is required
  EXPECT_TRUE(std::filesystem::is_empty(dir / "out"));
}

TEST(EncryptCli, DataOnlyRunWritesImageManifestAndPassphrase) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "data.raw");
  const std::string before = testing::ReadText(img);
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0700), 0);
  auto r = RunVhdcrypt({"encrypt", "--data-only", img, "--output-dir", dir / "out", "--to", "vhd-fixed", "--pbkdf",
                        "pbkdf2", "--iter-time", "50", "--progress", "json", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "out/data.vhd"));
  const std::string pass = testing::ReadText(dir / "out/passphrase");
  ASSERT_EQ(pass.size(), 44u);
  struct stat st;
  ASSERT_EQ(::stat((dir / "out/passphrase").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(r.out.find(pass), std::string::npos);
  EXPECT_EQ(r.err.find(pass), std::string::npos);
  auto m = nlohmann::json::parse(testing::ReadText(dir / "out/manifest.json"));
  ASSERT_EQ(m["volumes"].size(), 1u);
  EXPECT_EQ(m["volumes"][0]["partition"], 0);
  EXPECT_EQ(m["volumes"][0]["filesystem"], "ext4");
  EXPECT_EQ(m["volumes"][0]["sector_size"], 4096);
  EXPECT_EQ(m["volumes"][0]["header_offset"], 0);
  EXPECT_EQ(m["disks"][0]["output_virtual_size"], (64 + 16) << 20);
  EXPECT_EQ(testing::ReadText(dir / "out/manifest.json").find(pass), std::string::npos);
  // Every progress line is JSON; the last one says all bytes are done.
  std::istringstream lines(r.out);
  std::string line, last;
  while (std::getline(lines, line)) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
    last = line;
  }
  auto done = nlohmann::json::parse(last);
  EXPECT_EQ(done["type"], "progress-done");
  EXPECT_EQ(done["bytes_done"], done["bytes_total"]);
  // info reads the output: a fixed VHD, no partition table, LUKS at 0.
  auto info = RunVhdcrypt({"info", "--json", dir / "out/data.vhd"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["container"], "vhd-fixed");
  EXPECT_EQ(testing::ReadText(dir / "out/data.vhd").substr(0, 6), std::string("LUKS\xba\xbe", 6));
  EXPECT_EQ(testing::ReadText(img), before);
}

TEST(EncryptCli, NoPlaintextInTheOutputAndFreshKeysEachRun) {
  // The plaintext is never written: no 64 KiB run of the source's bytes
  // appears in the output's data segment.
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  WriteText(dir / "key", "k");
  for (const char* out : {"o1", "o2"}) {
    ASSERT_EQ(::mkdir((dir / out).c_str(), 0700), 0);
    auto r = RunVhdcrypt({"encrypt", "--data-only", img, "--output-dir", dir / out, "--key-file", dir / "key",
                          "--pbkdf", "pbkdf2", "--iter-time", "50", "--progress", "none"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string a = testing::ReadText(dir / "o1/d.raw"), b = testing::ReadText(dir / "o2/d.raw");
  const std::string src = testing::ReadText(img);
  ASSERT_EQ(a.size(), src.size() + (16u << 20));
  ASSERT_EQ(b.size(), a.size());
  EXPECT_NE(a.substr(16 << 20), b.substr(16 << 20));  // fresh volume keys
  const std::string sb = src.substr(1024, 1024);       // the ext4 superblock
  EXPECT_EQ(a.find(sb), std::string::npos);
  EXPECT_EQ(a.find("hello\n"), std::string::npos);
}

TEST(EncryptCli, DataOnlyRefusesABootableDisk) {
  testing::TempDir dir;
  // A GPT disk with an EFI System partition: an OS disk.
  const std::string img = dir / "os.raw";
  const std::string cmd = "truncate -s 64M " + img + " && sgdisk -o -n 1:2048:+32M -t 1:EF00 -n 2:0:0 " + img + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0700), 0);
  auto r = RunVhdcrypt({"encrypt", "--data-only", img, "--output-dir", dir / "out"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("looks like an OS disk"), std::string::npos) << r.err;
  EXPECT_TRUE(std::filesystem::is_empty(dir / "out"));
}

TEST(EncryptCli, NothingToEncryptIsInvalidInput) {
  testing::TempDir dir;
  WriteText(dir / "zeros.raw", std::string(4 << 20, '\0'));
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0700), 0);
  auto r = RunVhdcrypt({"encrypt", "--data-only", dir / "zeros.raw", "--output-dir", dir / "out"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("no data volume to encrypt"), std::string::npos) << r.err;
  EXPECT_TRUE(std::filesystem::is_empty(dir / "out"));
}

TEST(VerifyCli, MalformedManifestIsInvalidInput) {
  testing::TempDir dir;
  WriteText(dir / "manifest.json", "{\"version\": 1}");
  WriteText(dir / "key", "k");
  auto r = RunVhdcrypt({"verify", dir.path(), "--key-file", dir / "key"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("manifest.json: manifest.tool is missing"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace vhdcrypt
