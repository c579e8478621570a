// deploy from the command line, on --data-only goldens (ext4 disks made by
// mke2fs: no appliance): every instance has volume keys of its own, opens
// only with its own passphrase and recovery key, decrypts to the golden's
// plaintext; the golden directory is never written; killed runs leave no
// final name. The OS path (detached header, initramfs, bek.vhd, boot) is
// tests/integration/encrypt_os.sh's.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/cli/disks.h"
#include "tests/cli/run.h"
#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

using testing::MakeExt4Disk;
using testing::Mode;
using testing::RunVhdcrypt;
using testing::WriteText;

const std::vector<std::string> kFast = {"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--progress", "none"};

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more = kFast) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

int Shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The volume key of the LUKS2 header at the start of `disk`, as cryptsetup
// luksDump --dump-volume-key prints it (the hex after "MK dump:").
std::string VolumeKey(const testing::TempDir& dir, const std::string& disk, const std::string& key_file) {
  const std::string header = dir / "header.tmp", dump = dir / "dump.tmp";
  if (Shell("dd if=" + disk + " of=" + header + " bs=1M count=16 status=none") != 0) return "(dd failed)";
  if (Shell("cryptsetup luksDump --dump-volume-key --batch-mode --key-file " + key_file + " " + header + " > " + dump +
            " 2>/dev/null") != 0) {
    return "(no key slot opens)";
  }
  const std::string text = testing::ReadText(dump);
  const auto at = text.find("MK dump:");
  if (at == std::string::npos) return "(no MK dump)";
  std::string hex;
  for (char c : text.substr(at + 8)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += c;
  }
  return hex.substr(0, 128);
}

bool Opens(const std::string& disk, const std::string& key_file) {
  return Shell("cryptsetup open --test-passphrase --key-file " + key_file + " " + disk + " 2>/dev/null") == 0;
}

// sha256sum of every file in `dir`, by name.
std::map<std::string, std::string> Digests(const std::string& dir) {
  std::map<std::string, std::string> out;
  const std::string sum = "/tmp/vhdcrypt-deploy-test-" + std::to_string(::getpid()) + ".sum";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    Shell("sha256sum " + e.path().string() + " > " + sum);
    out[e.path().filename()] = testing::ReadText(sum).substr(0, 64);
  }
  std::filesystem::remove(sum);
  return out;
}

std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> names;
  if (!std::filesystem::exists(dir)) return names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.insert(e.path().filename());
  return names;
}

std::string Decrypted(const testing::TempDir& dir, const std::string& from, const std::string& key,
                      const std::string& disk) {
  const std::string out = dir / (std::filesystem::path(from).filename().string() + "." + disk + ".plain");
  auto r = RunVhdcrypt({"decrypt", from, "--key-file", key, "--output-dir", out, "--to", "raw", "--progress", "none"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return testing::ReadText(out + "/" + disk);
}

// A golden of two data disks, and the golden passphrase.
struct GoldenFixture {
  explicit GoldenFixture(const testing::TempDir& dir, const std::vector<std::string>& extra = {}) {
    MakeExt4Disk(dir, "d1.raw");
    MakeExt4Disk(dir, "d2.raw");
    WriteText(dir / "golden.pass", "the golden passphrase");
    auto r = RunVhdcrypt(With(With({"encrypt", "--data-only", dir / "d1.raw", "--data", dir / "d2.raw", "--output-dir",
                                    dir / "golden", "--key-file", dir / "golden.pass"},
                                   extra)));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    golden = dir / "golden";
    key = dir / "golden.pass";
  }
  std::string golden, key;
};

TEST(DeployCli, TwoInstancesHaveKeysOfTheirOwnAndDecryptToTheGoldensPlaintext) {
  testing::TempDir dir;
  GoldenFixture g(dir);
  const auto golden_before = Digests(g.golden);
  WriteText(dir / "vm1.pass", "the passphrase of vm1");
  auto r1 = RunVhdcrypt(With({"deploy", g.golden, "--key-file", g.key, "--output-dir", dir / "vm1", "--new-key-file",
                              dir / "vm1.pass", "--recovery-key"}));
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  auto r2 = RunVhdcrypt(With({"deploy", g.golden, "--key-file", g.key, "--output-dir", dir / "vm2", "--recovery-key"},
                             {"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--progress", "json"}));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(Digests(g.golden), golden_before) << "the golden directory changed";

  EXPECT_EQ(Names(dir / "vm1"), (std::set<std::string>{"d1.raw", "d2.raw", "manifest.json", "recovery-key"}));
  EXPECT_EQ(Names(dir / "vm2"), (std::set<std::string>{"d1.raw", "d2.raw", "keyvault-secret.json", "manifest.json",
                                                       "passphrase", "recovery-key"}));
  for (const char* f : {"vm1/recovery-key", "vm2/recovery-key", "vm2/passphrase"}) EXPECT_EQ(Mode(dir / f), 0600u) << f;
  const std::string rk1 = testing::ReadText(dir / "vm1/recovery-key");
  EXPECT_EQ(rk1.size(), 71u);
  EXPECT_EQ(r1.err.find(rk1.substr(0, 17)), std::string::npos);
  EXPECT_EQ(r1.out.find(rk1.substr(0, 17)), std::string::npos);
  // The last JSON line is the result.
  const std::string last = r2.out.substr(r2.out.rfind('{'));
  auto result = nlohmann::json::parse(last, nullptr, false);
  EXPECT_EQ(result.value("type", ""), "result") << r2.out;
  EXPECT_EQ(result.value("exit_code", -1), 0) << r2.out;

  const std::map<std::string, std::string> keys = {{"golden", g.key},
                                                   {"vm1", dir / "vm1.pass"},
                                                   {"vm2", dir / "vm2/passphrase"},
                                                   {"vm1-recovery", dir / "vm1/recovery-key"},
                                                   {"vm2-recovery", dir / "vm2/recovery-key"}};
  const std::map<std::string, std::string> dirs = {{"golden", g.golden}, {"vm1", dir / "vm1"}, {"vm2", dir / "vm2"}};
  for (const char* disk : {"d1.raw", "d2.raw"}) {
    SCOPED_TRACE(disk);
    // Three distinct volume keys, each from its own passphrase.
    const std::string kg = VolumeKey(dir, g.golden + "/" + disk, g.key);
    const std::string k1 = VolumeKey(dir, dir / "vm1/" + disk, dir / "vm1.pass");
    const std::string k2 = VolumeKey(dir, dir / "vm2/" + disk, dir / "vm2/passphrase");
    ASSERT_EQ(kg.size(), 128u) << kg;
    ASSERT_EQ(k1.size(), 128u) << k1;
    ASSERT_EQ(k2.size(), 128u) << k2;
    EXPECT_NE(kg, k1);
    EXPECT_NE(kg, k2);
    EXPECT_NE(k1, k2);
    EXPECT_EQ(VolumeKey(dir, dir / "vm1/" + disk, dir / "vm1/recovery-key"), k1);
    // Each opens with its own passphrase and recovery key only.
    for (const auto& [owner, d] : dirs) {
      for (const auto& [name, key] : keys) {
        const bool mine = name == owner || name == owner + "-recovery";
        EXPECT_EQ(Opens(d + "/" + disk, key), mine) << name << " on " << owner;
      }
    }
  }
  // decrypt of each instance gives the golden's plaintext, which is the input's.
  for (const char* disk : {"d1.raw", "d2.raw"}) {
    const std::string golden_plain = Decrypted(dir, g.golden, g.key, disk);
    const std::string source = testing::ReadText(dir / disk);
    ASSERT_GE(golden_plain.size(), source.size());
    EXPECT_EQ(golden_plain.compare(0, source.size(), source), 0) << disk;
    EXPECT_TRUE(Decrypted(dir, dir / "vm1", dir / "vm1.pass", disk) == golden_plain) << disk;
    EXPECT_TRUE(Decrypted(dir, dir / "vm2", dir / "vm2/passphrase", disk) == golden_plain) << disk;
  }
  // The instance manifest names its golden by digest and holds no secret.
  const std::string text = testing::ReadText(dir / "vm2/manifest.json");
  const auto m = nlohmann::json::parse(text);
  EXPECT_EQ(m["golden"]["manifest_sha256"], golden_before.at("manifest.json"));
  EXPECT_EQ(m["passphrase_file"], "passphrase");
  EXPECT_EQ(text.find(testing::ReadText(dir / "vm2/passphrase").substr(0, 20)), std::string::npos);
  EXPECT_EQ(text.find(testing::ReadText(dir / "vm2/recovery-key").substr(0, 17)), std::string::npos);
}

// A golden made with --skip-free-space: only the used blocks are
// re-encrypted and written (the instance is as sparse as the golden), and
// the used data decrypts to the source's; --to changes the container.
TEST(DeployCli, ASkippedGoldenIsDeployedInProportionToItsUsedBlocks) {
  testing::TempDir dir;
  GoldenFixture g(dir, {"--skip-free-space"});
  auto r = RunVhdcrypt(
      With({"-v", "deploy", g.golden, "--key-file", g.key, "--output-dir", dir / "vm", "--to", "vhd-dynamic"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Names(dir / "vm"),
            (std::set<std::string>{"d1.vhd", "d2.vhd", "manifest.json", "passphrase", "keyvault-secret.json"}));
  const auto m = nlohmann::json::parse(testing::ReadText(dir / "vm/manifest.json"));
  EXPECT_EQ(m["volumes"][0]["free_space"], "skipped");
  EXPECT_EQ(m["disks"][0]["output"], "d1.vhd");
  EXPECT_EQ(m["disks"][0]["output_format"], "vhd-dynamic");
  // A dynamic VHD allocates only the blocks written: the header and the used
  // blocks of a 64 MiB ext4 that holds almost nothing.
  struct stat st {};
  ASSERT_EQ(::stat((dir / "vm/d1.vhd").c_str(), &st), 0);
  EXPECT_LT(st.st_size, 40 << 20) << "more than the header and the used blocks were written";
  // What the filesystem uses decrypts to the source's bytes: fsck is clean
  // and the file is there.
  const std::string plain = dir / "vm.plain";
  auto d = RunVhdcrypt({"decrypt", dir / "vm", "--key-file", dir / "vm/passphrase", "--output-dir", plain, "--to",
                        "raw", "--progress", "none"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(Shell("e2fsck -fn " + plain + "/d1.raw > /dev/null 2>&1"), 0);
  EXPECT_EQ(Shell("debugfs -R 'cat /hello.txt' " + plain + "/d1.raw 2>/dev/null | grep -q hello"), 0);
}

TEST(DeployCli, RefusalsWriteNothing) {
  testing::TempDir dir;
  GoldenFixture g(dir);
  const auto golden_before = Digests(g.golden);
  WriteText(dir / "wrong.pass", "not the golden passphrase");
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    const char* message;
  };
  const Case cases[] = {
      {{"--output-dir", g.golden}, 2, "is the golden directory"},
      {{"--output-dir", dir / "out", "--new-key-file", g.key}, 2, "holds the golden passphrase"},
      {{"--output-dir", dir / "out", "--key-file", dir / "wrong.pass"}, 2, "no key slot opens"},
      {{"--output-dir", dir / "out", "--new-key-file", dir / "missing"}, 2, "missing"},
      {{"--output-dir", dir / "out", "--kek", dir / "missing.pem"}, 2, "missing.pem"},
      {{"--output-dir", dir / "out", "--kek", dir / "k.pem", "--kek-url", "http://v/keys/k"},
       2,
       "is not a Key Vault key URL"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"deploy", g.golden};
    args.insert(args.end(), c.args.begin(), c.args.end());
    if (std::find(args.begin(), args.end(), "--key-file") == args.end()) {
      args.push_back("--key-file");
      args.push_back(g.key);
    }
    auto r = RunVhdcrypt(With(args));
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "out")) << c.message;
  }
  auto r = RunVhdcrypt(With({"deploy", dir / "nothing", "--key-file", g.key, "--output-dir", dir / "out"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
  std::filesystem::create_directory(dir / "empty");
  r = RunVhdcrypt(With({"deploy", dir / "empty", "--key-file", g.key, "--output-dir", dir / "out"}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("manifest.json"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
  EXPECT_EQ(Digests(g.golden), golden_before);
}

// SIGKILL at four points of a deploy: no final name is ever left, the golden
// is untouched, and a rerun into the same directory succeeds.
TEST(DeployCli, SigkillAtFourPointsThenARerun) {
  testing::TempDir dir;
  GoldenFixture g(dir);
  const auto golden_before = Digests(g.golden);
  const std::vector<std::string> run = {"deploy",        g.golden,       "--key-file",
                                        g.key,           "--output-dir", dir / "vm",
                                        "--pbkdf",       "pbkdf2",       "--pbkdf-force-iterations",
                                        "1000",          "--progress",   "json",
                                        "--recovery-key"};
  for (const char* point : {"outputs-created", "reencrypt", "images-written", "commit"}) {
    ::setenv("VHDCRYPT_TEST_STOP_AT", point, 1);
    const pid_t pid = testing::Spawn(run, dir / "run.out", dir / "run.err");
    ::unsetenv("VHDCRYPT_TEST_STOP_AT");
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
    ASSERT_TRUE(WIFSTOPPED(status)) << point << ": " << testing::ReadText(dir / "run.err");
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    for (const std::string& n : Names(dir / "vm")) {
      EXPECT_TRUE(n.starts_with(".") && n.find(".vhdcrypt-" + std::to_string(pid) + "-") != std::string::npos)
          << point << ": " << n;
    }
  }
  auto r = RunVhdcrypt(run);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("temporary files of an earlier run that was killed"), std::string::npos) << r.err;
  EXPECT_EQ(Names(dir / "vm"), (std::set<std::string>{"d1.raw", "d2.raw", "keyvault-secret.json", "manifest.json",
                                                      "passphrase", "recovery-key"}));
  EXPECT_TRUE(Opens(dir / "vm/d1.raw", dir / "vm/passphrase"));
  EXPECT_FALSE(Opens(dir / "vm/d1.raw", g.key));
  EXPECT_EQ(Digests(g.golden), golden_before);
}

}  // namespace
}  // namespace vhdcrypt
