// Hostile and odd inputs from the command line, none needing an appliance:
// file names that are not UTF-8, FIFOs and other special files, empty
// images, an output directory a killed run left behind, and a commit that
// cannot complete. Each once crashed, hung, aborted or left a broken output.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/cli/disks.h"
#include "tests/cli/run.h"
#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

using testing::MakeExt4Disk;
using testing::RunVhdcrypt;
using testing::WriteText;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const std::vector<std::string> kFastKdf = {"--pbkdf", "pbkdf2", "--iter-time", "20"};

std::vector<std::string> Args(std::vector<std::string> args, const std::vector<std::string>& more = kFastKdf) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// An input named "bad\xff.raw": nlohmann's dump() threw on the manifest after
// all the work was done (exit 134), leaving temporaries with the passphrase.
TEST(HostileCli, AnInputNameThatIsNotUtf8) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "bad\xff\x1b[31m.raw");
  auto r = RunVhdcrypt(Args({"encrypt", "--data-only", img, "--output-dir", dir / "out", "--progress", "json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The image is named with '_' for each byte that is not UTF-8 or is a control character.
  EXPECT_TRUE(std::filesystem::exists(dir / "out/bad__[31m.raw")) << r.err;
  const auto m = nlohmann::json::parse(testing::ReadText(dir / "out/manifest.json"));
  EXPECT_EQ(m["disks"][0]["output"], "bad__[31m.raw");
  EXPECT_TRUE(Contains(m["disks"][0]["input"].get<std::string>(), "bad\xef\xbf\xbd\x1b[31m.raw"));
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  // Nothing raw reaches the terminal: the log names it with escapes.
  EXPECT_FALSE(Contains(r.err, "\xff")) << r.err;
  EXPECT_FALSE(Contains(r.err, "\x1b")) << r.err;
  for (const auto& e : std::filesystem::directory_iterator(dir / "out")) {
    EXPECT_NE(e.path().filename().string()[0], '.') << "temporary left: " << e.path();
  }
  // The manifest names the file exactly: decrypt finds it.
  ASSERT_EQ(::mkdir((dir / "plain").c_str(), 0700), 0);
  auto d = RunVhdcrypt({"decrypt", dir / "out", "--key-file", dir / "out/passphrase", "--output-dir", dir / "plain"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  const std::string before = testing::ReadText(img), plain = testing::ReadText(dir / "plain/bad__[31m.raw");
  ASSERT_EQ(plain.size(), before.size() + (16u << 20));  // the header's 16 MiB come back as zeros at the end
  EXPECT_TRUE(plain.compare(0, before.size(), before) == 0) << "the decrypted volume differs from the source";
}

// open() of a FIFO waited for a writer forever.
TEST(HostileCli, FifosAndOtherSpecialFilesAreRefusedAtOpen) {
  testing::TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  ASSERT_EQ(::mkdir((dir / "m").c_str(), 0700), 0);
  ASSERT_EQ(::mkfifo((dir / "m/manifest.json").c_str(), 0600), 0);
  WriteText(dir / "key", "k");
  const std::vector<std::vector<std::string>> runs = {
      {"info", dir / "fifo"},
      {"convert", dir / "fifo", dir / "out.vhd", "--to", "vhd-fixed"},
      {"encrypt", "--data-only", dir / "fifo", "--output-dir", dir / "enc"},
      {"status", dir / "fifo"},
      {"verify", dir / "m", "--key-file", dir / "key"},
      {"info", "/dev/null"},
      {"info", dir.path()},
  };
  for (const auto& args : runs) {
    auto r = RunVhdcrypt(args);
    EXPECT_EQ(r.exit_code, 3) << args[0] << ": " << r.err;
    EXPECT_TRUE(Contains(r.err, "is a FIFO, not a regular file") || Contains(r.err, "is a character device") ||
                Contains(r.err, "is a directory"))
        << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "out.vhd"));
  EXPECT_FALSE(std::filesystem::exists(dir / "enc"));
}

// An empty file was described as a 0-byte raw disk, with exit 0.
TEST(HostileCli, EmptyAndSubSectorFilesAreNotImages) {
  testing::TempDir dir;
  WriteText(dir / "empty.raw", "");
  WriteText(dir / "tiny.raw", std::string(100, 'x'));
  auto r = RunVhdcrypt({"info", dir / "empty.raw"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(Contains(r.err, "empty.raw: is empty: not a disk image")) << r.err;
  r = RunVhdcrypt({"info", dir / "tiny.raw"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(Contains(r.err, "tiny.raw: is 100 bytes, less than one 512-byte sector")) << r.err;
}

// A PID that is certainly gone: a child, reaped.
pid_t DeadPid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

// A run killed outright (SIGKILL) leaves its temporaries, one of them holding
// the passphrase; the next run in that directory removes them and says so.
TEST(HostileCli, TheNextRunRemovesAKilledRunsTemporaries) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0700), 0);
  const std::string dead = dir / ("out/.passphrase.vhdcrypt-" + std::to_string(DeadPid()) + "-Xy12Zw");
  WriteText(dead, "an old passphrase");
  const std::string live = dir / ("out/.other.vhd.vhdcrypt-" + std::to_string(::getpid()) + "-Xy12Zw");
  WriteText(live, "a live run's");
  auto r = RunVhdcrypt(Args({"encrypt", "--data-only", img, "--output-dir", dir / "out"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "removed 1 temporary file of an earlier run that was killed: .passphrase.vhdcrypt-"))
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(live));
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// SIGKILL of encrypt at five points (the run stops itself there,
// base/stop_point.h, so the kill lands where it is meant to), each run in the
// directory the one before was killed in: each leaves only temporaries, the
// passphrase's among them, never a final name; the next run removes the dead
// run's temporaries, says so, and the last one (not killed) succeeds.
TEST(HostileCli, SigkillAtFivePointsThenARerunInTheSameDirectory) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  const std::vector<std::string> run =
      Args({"encrypt", "--data-only", img, "--output-dir", dir / "out", "--to", "vhd-dynamic", "--progress", "json"});
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0700), 0);
  size_t left_before = 0;
  for (const char* point : {"outputs-created", "encrypt", "luks-headers", "images-written", "commit"}) {
    ::setenv("VHDCRYPT_TEST_STOP_AT", point, 1);
    const pid_t pid = testing::Spawn(run, dir / "run.out", dir / "run.err");
    ::unsetenv("VHDCRYPT_TEST_STOP_AT");
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
    ASSERT_TRUE(WIFSTOPPED(status)) << point << ": the run ended before it: " << testing::ReadText(dir / "run.err");
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << point;
    const std::string err = testing::ReadText(dir / "run.err");
    if (left_before > 0) {
      EXPECT_TRUE(Contains(err, "removed " + std::to_string(left_before) + " temporary file")) << point << ": " << err;
    }
    const auto names = Names(dir / "out");
    left_before = names.size();
    const std::string passphrase_temp = ".passphrase.vhdcrypt-" + std::to_string(pid) + "-";
    EXPECT_TRUE(std::any_of(names.begin(), names.end(), [&](const std::string& n) {
      return n.starts_with(passphrase_temp);
    })) << point;
    for (const auto& n : names)
      EXPECT_TRUE(n.starts_with(".") && Contains(n, ".vhdcrypt-" + std::to_string(pid) + "-")) << point << ": " << n;
  }
  auto r = RunVhdcrypt(run);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(
      Contains(r.err, "removed " + std::to_string(left_before) + " temporary files of an earlier run that was killed"))
      << r.err;
  EXPECT_EQ(Names(dir / "out"),
            (std::vector<std::string>{"d.vhd", "keyvault-secret.json", "manifest.json", "passphrase"}));
  ASSERT_EQ(::mkdir((dir / "plain").c_str(), 0700), 0);
  auto d = RunVhdcrypt(
      {"decrypt", dir / "out", "--key-file", dir / "out/passphrase", "--output-dir", dir / "plain", "--to", "raw"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  const std::string before = testing::ReadText(img), plain = testing::ReadText(dir / "plain/d.raw");
  ASSERT_GE(plain.size(), before.size());
  EXPECT_TRUE(plain.compare(0, before.size(), before) == 0) << "the decrypted volume differs from the source";
}

// --sector-size 4096 was accepted for an ext4 with 1 KiB blocks: the output
// could not be mounted (the kernel refuses I/O smaller than dm-crypt's sector).
TEST(HostileCli, ASectorSizeLargerThanTheFilesystemsIoIsRefusedBeforeAnyOutput) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "small-blocks.raw", 1024);
  auto r = RunVhdcrypt(Args({"encrypt", "--data-only", img, "--output-dir", dir / "out", "--sector-size", "4096"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(Contains(r.err, "small-blocks.raw: /dev/sda (ext4) does I/O of 1024 bytes; with --sector-size 4096"))
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
  r = RunVhdcrypt(Args({"encrypt", "--data-only", img, "--output-dir", dir / "ok", "--sector-size", "512"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// A name taken after the run began (here a symlink at DIR/passphrase, which
// stat() does not see): the images were renamed into place before the keys, so
// the run left an image whose passphrase was deleted. Now nothing is left.
TEST(HostileCli, ACommitThatFailsLeavesNoFinalName) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0700), 0);
  ASSERT_EQ(::symlink("/nonexistent/target", (dir / "out/passphrase").c_str()), 0);
  auto r = RunVhdcrypt(Args({"encrypt", "--data-only", img, "--output-dir", dir / "out"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(Contains(r.err, "passphrase: appeared while vhdcrypt was writing it")) << r.err;
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir / "out")) left.push_back(e.path().filename());
  EXPECT_EQ(left, std::vector<std::string>{"passphrase"});  // the symlink, nothing else
}

// encrypt took a passphrase with a NUL byte and committed images that verify
// then refused to open; every command now refuses the key file before any work.
TEST(HostileCli, APassphraseWithANulByteIsRefusedByEveryCommandBeforeAnyWork) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  WriteText(dir / "key", std::string("pass\0word", 9));
  const std::vector<std::vector<std::string>> runs = {
      {"encrypt", "--data-only", img, "--output-dir", dir / "enc", "--key-file", dir / "key"},
      {"decrypt", dir.path(), "--key-file", dir / "key", "--output-dir", dir / "plain"},
      {"verify", dir.path(), "--key-file", dir / "key"},
  };
  for (const auto& args : runs) {
    auto r = RunVhdcrypt(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
    EXPECT_TRUE(Contains(r.err, "key: the passphrase contains a NUL byte")) << args[0] << ": " << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "enc"));
  EXPECT_FALSE(std::filesystem::exists(dir / "plain"));
}

TEST(HostileCli, TextFromTheCommandLineIsEscapedOnTheTerminal) {
  auto r = RunVhdcrypt({"frob\x1b]0;owned\x07"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(Contains(r.err, "'frob\\x1b]0;owned\\x07' is not a subcommand")) << r.err;
  r = RunVhdcrypt({"info", "/nonexistent/\x1b[2J.raw"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(Contains(r.err, "\x1b")) << r.err;
  EXPECT_TRUE(Contains(r.err, "/nonexistent/\\x1b[2J.raw")) << r.err;
}

}  // namespace
}  // namespace vhdcrypt
