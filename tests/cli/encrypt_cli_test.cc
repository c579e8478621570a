// encrypt and verify from the command line, on cases that need no appliance:
// usage errors, and --data-only runs on small ext4 disks made by mke2fs; the
// passphrase wrapped with --kek is opened again by the openssl command line.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/cli/disks.h"
#include "tests/cli/run.h"
#include "tests/formats/malformed_case.h"
#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

using testing::MakeExt4Disk;
using testing::Mode;
using testing::RunVhdcrypt;
using testing::WriteText;

// Standard base64, or base64url without padding; written here rather than
// taken from OpenSSL, which wrote it. Returns "!" on a character outside the
// alphabet.
std::string Base64Decode(const std::string& text, bool url) {
  const std::string alphabet =
      std::string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") + (url ? "-_" : "+/");
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' && !url) break;
    const auto i = alphabet.find(c);
    if (i == std::string::npos) return "!";
    acc = (acc << 6) | static_cast<uint32_t>(i);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// An RSA key pair made by the openssl command line: DIR/NAME.priv.pem and
// the public half DIR/NAME.pub.pem ("PUBLIC KEY").
std::string MakeRsaKey(const testing::TempDir& dir, const std::string& name, int bits) {
  const std::string priv = dir / (name + ".priv.pem"), pub = dir / (name + ".pub.pem");
  const std::string cmd = "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:" + std::to_string(bits) + " -out " +
                          priv + " 2>/dev/null && openssl pkey -in " + priv + " -pubout -out " + pub;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return pub;
}

// What the KEK's owner runs (docs/azure.md): openssl pkeyutl -decrypt with OAEP,
// SHA-256 for OAEP and MGF1 with RSA-OAEP-256.
std::string OpensslUnwrap(const testing::TempDir& dir, const std::string& priv, const std::string& wrapped,
                          bool sha256) {
  const std::string out = dir / "unwrapped";
  std::string cmd = "openssl pkeyutl -decrypt -inkey " + priv + " -in " + wrapped + " -pkeyopt rsa_padding_mode:oaep";
  if (sha256) cmd += " -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256";
  cmd += " -out " + out + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return "(openssl pkeyutl failed)";
  std::string text = testing::ReadText(out);
  std::filesystem::remove(out);
  return text;
}

// The sha256sum command's digest of PATH (an independent implementation).
std::string Sha256sum(const std::string& path) {
  const std::string out = path + ".sha256";
  const std::string cmd = "sha256sum " + path + " > " + out;
  if (std::system(cmd.c_str()) != 0) return "(sha256sum failed)";
  return testing::ReadText(out).substr(0, 64);
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
      {{"--os-header", "attached"}, "--volume-type data leaves the OS volume plaintext"},  // data is the default
      {{"--os-header", "inline"}, "--os-header: 'inline' is not one of detached, attached"},
      {{"--sector-size", "1024"}, "--sector-size"},
      {{"--pbkdf", "scrypt"}, "--pbkdf"},
      {{"--progress", "fancy"}, "--progress"},
      {{"--to", "vmdk"}, "vmdk"},
      {{"--iter-time", "0"}, "--iter-time"},
      {{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "999"}, "pbkdf2 iterations 999 are below the minimum of 1000"},
      {{"--pbkdf-force-iterations", "3"}, "argon2id time cost 3 is below the minimum of 4"},
      {{"--pbkdf-force-iterations", "4", "--pbkdf-memory", "16"}, "memory cost of 16 KiB is outside"},
      {{"--pbkdf-force-iterations", "4", "--pbkdf-parallel", "5"}, "parallel threads 5 is not between 1 and 4"},
      {{"--pbkdf-memory", "1024"}, "PBKDF memory or thread cost given without iterations"},
      {{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--pbkdf-parallel", "2"},
       "pbkdf2 has no memory or thread cost"},
      {{"--key-file", dir / "missing.key"}, "missing.key: does not exist"},
      {{"--kek", dir / "missing.pem"}, "missing.pem: does not exist"},
      {{"--kek", dir / "k.pem", "--kek-alg", "RSA1_5"}, "--kek-alg: 'RSA1_5' is not one of RSA-OAEP, RSA-OAEP-256"},
      {{"--kek-alg", "RSA-OAEP-256"}, "--kek"},  // needs --kek
      {{"--kek-url", "https://v.vault.azure.net/keys/k/1"}, "--kek"},
      {{"--kek", dir / "k.pem", "--kek-url", "http://v/keys/k"},
       "--kek-url: 'http://v/keys/k' is not a Key Vault key URL"},
      {{"--threads", "100000"}, "not in range 1 to 256"},  // refused before the check
      {{"--threads", "0"}, "--threads"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"encrypt", img, "--output-dir", dir / "out"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = RunVhdcrypt(args);
    EXPECT_EQ(r.exit_code, 2) << c.expect << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
  }
  auto no_dir = RunVhdcrypt({"encrypt", img, "--output-dir", dir / "nope/out"});
  EXPECT_EQ(no_dir.exit_code, 2);
  EXPECT_NE(no_dir.err.find("nope/out: output directory does not exist, nor does its parent"), std::string::npos)
      << no_dir.err;
  auto not_dir = RunVhdcrypt({"encrypt", img, "--output-dir", img});
  EXPECT_EQ(not_dir.exit_code, 2);
  EXPECT_NE(not_dir.err.find("d.raw: output directory is not a directory"), std::string::npos) << not_dir.err;
  EXPECT_EQ(RunVhdcrypt({"encrypt", img}).exit_code, 2);         // --output-dir is required
  EXPECT_EQ(RunVhdcrypt({"verify", dir / "out"}).exit_code, 2);  // --key-file is required
  EXPECT_TRUE(std::filesystem::is_empty(dir / "out"));
}

TEST(EncryptCli, DataOnlyRunWritesImageManifestAndPassphrase) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "data.raw");
  const std::string before = testing::ReadText(img);
  // The output directory does not exist yet: encrypt makes it, for the owner
  // only; its trailing slash is dropped from the paths it reports.
  auto r = RunVhdcrypt({"encrypt", "--data-only", img, "--output-dir", dir / "out/", "--to", "vhd-fixed", "--pbkdf",
                        "pbkdf2", "--iter-time", "50", "--progress", "json", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Mode(dir / "out"), 0700u);
  EXPECT_TRUE(std::filesystem::exists(dir / "out/data.vhd"));
  const std::string pass = testing::ReadText(dir / "out/passphrase");
  ASSERT_EQ(pass.size(), 172u);  // 127 random bytes in base64, as ADE
  struct stat st;
  ASSERT_EQ(::stat((dir / "out/passphrase").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(r.out.find(pass), std::string::npos);
  EXPECT_EQ(r.err.find(pass), std::string::npos);
  // The Key Vault secret: the passphrase in standard base64, as ADE uploads it.
  EXPECT_EQ(Mode(dir / "out/keyvault-secret.json"), 0600u);
  auto secret = nlohmann::json::parse(testing::ReadText(dir / "out/keyvault-secret.json"));
  EXPECT_EQ(Base64Decode(secret["value"], false), pass);
  EXPECT_EQ(secret["tags"], nlohmann::json({{"DiskEncryptionKeyFileName", "LinuxPassPhraseFileName"}}));
  EXPECT_FALSE(std::filesystem::exists(dir / "out/passphrase.wrapped"));
  auto m = nlohmann::json::parse(testing::ReadText(dir / "out/manifest.json"));
  ASSERT_EQ(m["volumes"].size(), 1u);
  EXPECT_EQ(m["volumes"][0]["partition"], 0);
  EXPECT_EQ(m["volumes"][0]["filesystem"], "ext4");
  EXPECT_EQ(m["volumes"][0]["sector_size"], 4096);
  EXPECT_EQ(m["volumes"][0]["header_offset"], 0);
  EXPECT_EQ(m["disks"][0]["output_virtual_size"], (64 + 16) << 20);
  // The input's digest is the one sha256sum computes.
  EXPECT_EQ(m["disks"][0]["input_sha256"], Sha256sum(img));
  EXPECT_EQ(testing::ReadText(dir / "out/manifest.json").find(pass), std::string::npos);
  // Every progress line is JSON; the one before the last says all bytes are
  // done, the last is the run's result.
  std::istringstream lines(r.out);
  std::string line;
  std::vector<nlohmann::json> objects;
  while (std::getline(lines, line)) {
    ASSERT_TRUE(nlohmann::json::accept(line)) << line;
    objects.push_back(nlohmann::json::parse(line));
  }
  ASSERT_GE(objects.size(), 2u);
  const auto& done = objects[objects.size() - 2];
  EXPECT_EQ(done["type"], "progress-done");
  EXPECT_EQ(done["bytes_done"], done["bytes_total"]);
  EXPECT_EQ(
      objects.back(),
      nlohmann::json({{"type", "result"}, {"command", "encrypt"}, {"exit_code", 0}, {"output_dir", dir / "out"}}));
  // info reads the output: a fixed VHD, no partition table, LUKS at 0.
  auto info = RunVhdcrypt({"info", "--json", dir / "out/data.vhd"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["container"], "vhd-fixed");
  EXPECT_EQ(testing::ReadText(dir / "out/data.vhd").substr(0, 6), std::string("LUKS\xba\xbe", 6));
  EXPECT_EQ(testing::ReadText(img), before);
}

// --pbkdf-force-iterations: the key slot gets exactly the costs asked for,
// as cryptsetup luksDump reads them, and no benchmark runs.
TEST(EncryptCli, ForcedPbkdfCostsReachTheKeySlot) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "data.raw");
  WriteText(dir / "key", "forced cost passphrase");
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> dump;  // lines luksDump must show
  };
  const Case cases[] = {
      {{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1234"}, {"PBKDF:      pbkdf2", "Iterations: 1234"}},
      {{"--pbkdf-force-iterations", "5", "--pbkdf-memory", "65536", "--pbkdf-parallel", "1"},
       {"PBKDF:      argon2id", "Time cost:  5", "Memory:     65536", "Threads:    1"}},
      {{"--pbkdf-force-iterations", "4"}, {"PBKDF:      argon2id", "Time cost:  4", "Memory:     131072"}},
  };
  int n = 0;
  for (const auto& c : cases) {
    const std::string out = dir / ("out" + std::to_string(n++));
    ASSERT_EQ(::mkdir(out.c_str(), 0700), 0);
    std::vector<std::string> args = {"-vv", "encrypt",    "--data-only", img,          "--output-dir",
                                     out,   "--key-file", dir / "key",   "--progress", "none"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = RunVhdcrypt(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("benchmark"), std::string::npos) << r.err;
    const std::string dump_file = dir / "dump.txt";
    const std::string cmd = "cryptsetup luksDump " + out + "/data.raw > " + dump_file;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const std::string dump = testing::ReadText(dump_file);
    for (const auto& line : c.dump) EXPECT_NE(dump.find(line), std::string::npos) << line << " in\n" << dump;
  }
}

// --recovery-key: DIR/recovery-key (0600, systemd's 71-character modhex
// form, never printed) opens the volume as the passphrase does, and
// luksDump shows the systemd-recovery token that names its slot.
TEST(EncryptCli, RecoveryKeyOpensTheVolumeBesideThePassphrase) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "data.raw");
  WriteText(dir / "key", "the passphrase");
  const std::string out = dir / "out";
  auto r =
      RunVhdcrypt({"-v", "encrypt", "--data-only", img, "--output-dir", out, "--key-file", dir / "key",
                   "--recovery-key", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--progress", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Mode(out + "/recovery-key"), 0600u);
  const std::string recovery = testing::ReadText(out + "/recovery-key");
  ASSERT_EQ(recovery.size(), 71u) << recovery;
  EXPECT_EQ(recovery.find_first_not_of("cbdefghijklnrtuv-"), std::string::npos) << recovery;
  EXPECT_EQ(r.out.find(recovery.substr(0, 8)), std::string::npos);
  EXPECT_EQ(r.err.find(recovery.substr(0, 8)), std::string::npos);
  EXPECT_NE(r.err.find("recovery key in"), std::string::npos) << r.err;
  for (const std::string& key : {out + "/recovery-key", dir / "key"}) {
    const std::string cmd = "cryptsetup open --test-passphrase --key-file " + key + " " + out + "/data.raw";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  WriteText(dir / "wrong", "cbdefghi-cbdefghi-cbdefghi-cbdefghi-cbdefghi-cbdefghi-cbdefghi-cbdefghi");
  const std::string wrong = "cryptsetup open --test-passphrase --key-file " + dir / "wrong" + " " + out + "/data.raw";
  EXPECT_NE(std::system((wrong + " 2>/dev/null").c_str()), 0);
  const std::string dump_file = dir / "dump.txt";
  ASSERT_EQ(std::system(("cryptsetup luksDump " + out + "/data.raw > " + dump_file).c_str()), 0);
  const std::string dump = testing::ReadText(dump_file);
  EXPECT_NE(dump.find("systemd-recovery"), std::string::npos) << dump;
  EXPECT_NE(dump.find("  1: luks2"), std::string::npos) << dump;
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
  const std::string sb = src.substr(1024, 1024);      // the ext4 superblock
  EXPECT_EQ(a.find(sb), std::string::npos);
  EXPECT_EQ(a.find("hello\n"), std::string::npos);
  // The user's key file is theirs: no copy of it, in any form.
  for (const char* f : {"o1/passphrase", "o1/passphrase.wrapped", "o1/keyvault-secret.json"}) {
    EXPECT_FALSE(std::filesystem::exists(dir / f)) << f;
  }
}

TEST(EncryptCli, KekWrapsTheKeyFilePassphraseForOpensslToUnwrap) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  const std::string pub = MakeRsaKey(dir, "kek", 2048), priv = dir / "kek.priv.pem";
  const std::string pass = "correct horse battery staple\n";  // the newline is part of it
  WriteText(dir / "key", pass);
  const std::string url = "https://vault1.vault.azure.net/keys/kek/0123456789abcdef0123456789abcdef";
  struct Case {
    const char* out;
    std::vector<std::string> alg;  // nothing: the default, RSA-OAEP
    bool sha256;
  };
  for (const Case& c : {Case{"oaep", {}, false}, Case{"oaep256", {"--kek-alg", "RSA-OAEP-256"}, true}}) {
    SCOPED_TRACE(c.out);
    const std::string out = dir / c.out;
    ASSERT_EQ(::mkdir(out.c_str(), 0700), 0);
    std::vector<std::string> args = {"-v",          "encrypt",    "--data-only",        img,       "--output-dir",
                                     out,           "--key-file", dir / "key",          "--kek",   pub,
                                     "--kek-url",   url,          "--write-passphrase", "--pbkdf", "pbkdf2",
                                     "--iter-time", "50",         "--progress",         "plain"};
    args.insert(args.end(), c.alg.begin(), c.alg.end());
    auto r = RunVhdcrypt(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("correct horse"), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find("correct horse"), std::string::npos) << r.err;
    // --key-file: no plaintext copy even with --write-passphrase.
    EXPECT_FALSE(std::filesystem::exists(out + "/passphrase"));
    EXPECT_EQ(Mode(out + "/passphrase.wrapped"), 0600u);
    const std::string wrapped = testing::ReadText(out + "/passphrase.wrapped");
    EXPECT_EQ(wrapped.size(), 256u);
    EXPECT_EQ(OpensslUnwrap(dir, priv, out + "/passphrase.wrapped", c.sha256), pass);
    // The other algorithm's digests do not open it.
    EXPECT_EQ(OpensslUnwrap(dir, priv, out + "/passphrase.wrapped", !c.sha256), "(openssl pkeyutl failed)");
    EXPECT_EQ(Mode(out + "/keyvault-secret.json"), 0600u);
    const std::string secret_text = testing::ReadText(out + "/keyvault-secret.json");
    EXPECT_EQ(secret_text.find("correct horse"), std::string::npos);
    auto secret = nlohmann::json::parse(secret_text);
    EXPECT_EQ(Base64Decode(secret["value"], true), wrapped);
    EXPECT_EQ(secret["attributes"], nlohmann::json({{"enabled", true}}));
    EXPECT_EQ(secret["tags"],
              nlohmann::json({{"DiskEncryptionKeyFileName", "LinuxPassPhraseFileName"},
                              {"DiskEncryptionKeyEncryptionAlgorithm", c.sha256 ? "RSA-OAEP-256" : "RSA-OAEP"},
                              {"DiskEncryptionKeyEncryptionKeyURL", url}}));
    EXPECT_EQ(testing::ReadText(out + "/manifest.json").find("correct horse"), std::string::npos);
    // No temporaries left: the image, the manifest and the two key outputs.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out), {}), 4);
  }
}

TEST(EncryptCli, KekWrapsAGeneratedPassphraseWrittenOnlyWhenAsked) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  const std::string pub = MakeRsaKey(dir, "kek", 3072), priv = dir / "kek.priv.pem";
  for (bool write : {false, true}) {
    SCOPED_TRACE(write ? "--write-passphrase" : "wrapped only");
    const std::string out = dir / (write ? "plain" : "wrapped");
    ASSERT_EQ(::mkdir(out.c_str(), 0700), 0);
    std::vector<std::string> args = {"encrypt", "--data-only", img,  "--output-dir", out,   "--kek", pub, "--pbkdf",
                                     "pbkdf2",  "--iter-time", "50", "--progress",   "none"};
    if (write) args.push_back("--write-passphrase");
    auto r = RunVhdcrypt(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string pass = OpensslUnwrap(dir, priv, out + "/passphrase.wrapped", false);
    ASSERT_EQ(pass.size(), 172u) << pass;  // 127 random bytes in base64, as ADE
    EXPECT_EQ(r.out.find(pass), std::string::npos);
    EXPECT_EQ(r.err.find(pass), std::string::npos);
    EXPECT_EQ(Mode(out + "/passphrase.wrapped"), 0600u);
    EXPECT_EQ(testing::ReadText(out + "/passphrase.wrapped").size(), 384u);
    EXPECT_EQ(std::filesystem::exists(out + "/passphrase"), write);
    if (write) {
      EXPECT_EQ(Mode(out + "/passphrase"), 0600u);
      EXPECT_EQ(testing::ReadText(out + "/passphrase"), pass);
    }
    // Key Vault gets the wrapped form only.
    EXPECT_EQ(Mode(out + "/keyvault-secret.json"), 0600u);
    const std::string secret_text = testing::ReadText(out + "/keyvault-secret.json");
    EXPECT_EQ(secret_text.find(pass), std::string::npos);
    auto secret = nlohmann::json::parse(secret_text);
    EXPECT_EQ(Base64Decode(secret["value"], true), testing::ReadText(out + "/passphrase.wrapped"));
    EXPECT_EQ(secret["tags"]["DiskEncryptionKeyEncryptionAlgorithm"], "RSA-OAEP");
    EXPECT_FALSE(secret["tags"].contains("DiskEncryptionKeyEncryptionKeyURL"));
    EXPECT_EQ(testing::ReadText(out + "/manifest.json").find(pass), std::string::npos);
  }
}

TEST(EncryptCli, RefusedKekLeavesNothingBehind) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  const std::string small = MakeRsaKey(dir, "small", 1024);
  const std::string pub = MakeRsaKey(dir, "kek", 2048);
  ASSERT_EQ(std::system(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | "
                         "openssl pkey -pubout -out " +
                         dir / "ec.pem")
                            .c_str()),
            0);
  WriteText(dir / "garbage.pem", "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n");
  WriteText(dir / "long.key", std::string(300, 'k'));  // more than one OAEP block of a 2048-bit key
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0700), 0);
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string expect;
  };
  const Case cases[] = {
      {{"--kek", small}, 3, small + ": holds a 1024-bit RSA key; --kek needs at least 2048 bits"},
      {{"--kek", dir / "ec.pem"}, 3, dir / "ec.pem" + ": holds a 256-bit EC key"},
      {{"--kek", dir / "garbage.pem"}, 3, dir / "garbage.pem" + ": holds no PEM public key"},
      {{"--kek", pub, "--key-file", dir / "long.key", "--kek-alg", "RSA-OAEP-256"}, 2, "wraps at most 190 bytes"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"encrypt", "--data-only", img, "--output-dir", dir / "out"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = RunVhdcrypt(args);
    EXPECT_EQ(r.exit_code, c.code) << c.expect << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_TRUE(std::filesystem::is_empty(dir / "out")) << c.expect;
  }
}

TEST(EncryptCli, DataOnlyRefusesABootableDisk) {
  testing::TempDir dir;
  // A GPT disk with an EFI System partition: an OS disk.
  const std::string img = dir / "os.raw";
  const std::string cmd =
      "truncate -s 64M " + img + " && sgdisk -o -n 1:2048:+32M -t 1:EF00 -n 2:0:0 " + img + " >/dev/null";
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
  // With --progress json a pipeline gets the failure as the last line too.
  r = RunVhdcrypt({"encrypt", "--data-only", dir / "zeros.raw", "--output-dir", dir / "out", "--progress", "json"});
  EXPECT_EQ(r.exit_code, 3);
  ASSERT_FALSE(r.out.empty());
  auto result = nlohmann::json::parse(r.out.substr(r.out.rfind('{')));
  EXPECT_EQ(result["type"], "result");
  EXPECT_EQ(result["exit_code"], 3);
  EXPECT_NE(result["error"].get<std::string>().find("no data volume to encrypt"), std::string::npos) << r.out;
  // An output directory encrypt made for a run that failed is removed again.
  r = RunVhdcrypt({"encrypt", "--data-only", dir / "zeros.raw", "--output-dir", dir / "made/"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(std::filesystem::exists(dir / "made"));
}

TEST(VerifyCli, MalformedManifestIsInvalidInput) {
  testing::TempDir dir;
  WriteText(dir / "manifest.json", "{\"version\": 1}");
  WriteText(dir / "key", "k");
  auto r = RunVhdcrypt({"verify", dir.path(), "--key-file", dir / "key"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("manifest.json: manifest.tool is missing"), std::string::npos) << r.err;
}

// --no-input-hash: the manifest's input digest is null, and the manifest
// still serves decrypt; the output is as without the flag.
TEST(EncryptCli, NoInputHashLeavesTheDigestNull) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  const std::string before = testing::ReadText(img);
  WriteText(dir / "key", "unhashed");
  for (const char* sub : {"enc", "plain"}) ASSERT_EQ(::mkdir((dir / sub).c_str(), 0700), 0);
  auto e =
      RunVhdcrypt({"encrypt", "--data-only", img, "--output-dir", dir / "enc", "--key-file", dir / "key",
                   "--no-input-hash", "--to", "raw", "--pbkdf", "pbkdf2", "--iter-time", "20", "--progress", "none"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto m = nlohmann::json::parse(testing::ReadText(dir / "enc/manifest.json"));
  ASSERT_EQ(m["disks"].size(), 1u);
  EXPECT_TRUE(m["disks"][0]["input_sha256"].is_null()) << m.dump();
  EXPECT_EQ(m["volumes"].size(), 1u);
  auto d = RunVhdcrypt(
      {"decrypt", dir / "enc", "--key-file", dir / "key", "--output-dir", dir / "plain", "--progress", "none"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  const std::string plain = testing::ReadText(dir / "plain/d.raw");
  ASSERT_EQ(plain.size(), before.size() + (16u << 20));
  EXPECT_TRUE(plain.compare(0, before.size(), before) == 0) << "the decrypted volume differs from the source";
  EXPECT_EQ(testing::ReadText(img), before);
}

// decrypt is encrypt's inverse: the whole-disk ext4 comes back byte for byte
// (the 16 MiB the header took read as zeros at the end), in either container.
TEST(DecryptCli, RoundTripsADataOnlyDiskAndRefusesAWrongKey) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  const std::string before = testing::ReadText(img);
  WriteText(dir / "key", "decrypt me");
  WriteText(dir / "wrong", "not me");
  for (const char* sub : {"enc", "plain", "plain2", "bad"}) ASSERT_EQ(::mkdir((dir / sub).c_str(), 0700), 0);
  auto e = RunVhdcrypt({"encrypt", "--data-only", img, "--output-dir", dir / "enc", "--key-file", dir / "key", "--to",
                        "vhd-dynamic", "--pbkdf", "pbkdf2", "--iter-time", "20", "--progress", "none"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const std::string encrypted = testing::ReadText(dir / "enc/d.vhd");

  auto r = RunVhdcrypt({"decrypt", dir / "enc", "--key-file", dir / "key", "--output-dir", dir / "plain", "--to", "raw",
                        "--progress", "json", "--threads", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string plain = testing::ReadText(dir / "plain/d.raw");
  ASSERT_EQ(plain.size(), before.size() + (16u << 20));
  EXPECT_TRUE(plain.compare(0, before.size(), before) == 0) << "the decrypted volume differs from the source";
  EXPECT_EQ(plain.find_first_not_of('\0', before.size()), std::string::npos);
  std::vector<nlohmann::json> objects;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) objects.push_back(nlohmann::json::parse(line));
  ASSERT_GE(objects.size(), 2u) << r.out;
  EXPECT_EQ(objects[objects.size() - 2]["type"], "progress-done");
  EXPECT_EQ(objects[objects.size() - 2]["bytes_done"], objects[objects.size() - 2]["bytes_total"]);
  EXPECT_EQ(objects.back()["type"], "result");
  EXPECT_EQ(objects.back()["exit_code"], 0);
  // Default container: as in DIR (dynamic VHD), read back through convert.
  ASSERT_EQ(RunVhdcrypt({"decrypt", dir / "enc", "--key-file", dir / "key", "--output-dir", dir / "plain2",
                         "--progress", "none"})
                .exit_code,
            0);
  auto info = RunVhdcrypt({"info", "--json", dir / "plain2/d.vhd"});
  EXPECT_EQ(nlohmann::json::parse(info.out)["container"], "vhd-dynamic") << info.err;
  // Existing outputs stay unless --force.
  auto again = RunVhdcrypt({"decrypt", dir / "enc", "--key-file", dir / "key", "--output-dir", dir / "plain2"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("d.vhd"), std::string::npos) << again.err;

  auto wrong = RunVhdcrypt({"decrypt", dir / "enc", "--key-file", dir / "wrong", "--output-dir", dir / "bad"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("d.vhd (whole disk): no key slot opens with this passphrase"), std::string::npos)
      << wrong.err;
  EXPECT_TRUE(std::filesystem::is_empty(dir / "bad"));
  EXPECT_EQ(testing::ReadText(dir / "enc/d.vhd"), encrypted);  // DIR is never written
  EXPECT_EQ(testing::ReadText(img), before);
}

TEST(DecryptCli, BadSourcesAreNamed) {
  testing::TempDir dir;
  WriteText(dir / "key", "k");
  ASSERT_EQ(::mkdir((dir / "out").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((dir / "empty").c_str(), 0700), 0);
  // A file is taken as an image: this one is not even whole sectors.
  auto r = RunVhdcrypt({"decrypt", dir / "key", "--key-file", dir / "key", "--output-dir", dir / "out"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(dir / "key"), std::string::npos) << r.err;
  r = RunVhdcrypt(
      {"decrypt", dir / "empty", "--data", dir / "key", "--key-file", dir / "key", "--output-dir", dir / "out"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--data: only with an IMAGE"), std::string::npos) << r.err;
  r = RunVhdcrypt({"decrypt", dir / "empty", "--key-file", dir / "key", "--output-dir", dir / "out"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("manifest.json"), std::string::npos) << r.err;
  r = RunVhdcrypt({"decrypt", dir / "empty", "--key-file", dir / "key", "--output-dir", dir / "no/where"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no/where: output directory does not exist, nor does its parent"), std::string::npos) << r.err;
  // A directory decrypt made for a run that failed is not left behind.
  r = RunVhdcrypt({"decrypt", dir / "empty", "--key-file", dir / "key", "--output-dir", dir / "made"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_FALSE(std::filesystem::exists(dir / "made"));
  WriteText(dir / "empty/manifest.json", "{\"version\": 1}");
  r = RunVhdcrypt({"decrypt", dir / "empty", "--key-file", dir / "key", "--output-dir", dir / "out"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("manifest.json: manifest.tool is missing"), std::string::npos) << r.err;
}

// rekey's refusals that need no appliance: nothing is opened for writing.
TEST(RekeyCli, RefusesBeforeTouchingTheImages) {
  testing::TempDir dir;
  const std::string img = MakeExt4Disk(dir, "d.raw");
  const std::string before = testing::ReadText(img);
  WriteText(dir / "old", "same");
  WriteText(dir / "new", "same");
  auto r = RunVhdcrypt({"rekey", img, "--key-file", dir / "old", "--new-key-file", dir / "new"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("holds the same passphrase as"), std::string::npos) << r.err;
  WriteText(dir / "new", "other");
  r = RunVhdcrypt({"rekey", img, "--key-file", dir / "old", "--new-key-file", dir / "missing"});
  EXPECT_EQ(r.exit_code, 2);  // a key file that is not there is a usage error, as for encrypt and verify
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  r = RunVhdcrypt({"rekey", img, "--key-file", dir / "old", "--new-key-file", dir / "new", "--pbkdf", "scrypt"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--pbkdf: 'scrypt'"), std::string::npos) << r.err;
  r = RunVhdcrypt({"rekey", img, "--key-file", dir / "old", "--new-key-file", dir / "new", "--pbkdf", "pbkdf2",
                   "--pbkdf-force-iterations", "10"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("pbkdf2 iterations 10 are below the minimum of 1000"), std::string::npos) << r.err;
  r = RunVhdcrypt({"rekey", dir / "nope.raw", "--key-file", dir / "old", "--new-key-file", dir / "new"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("nope.raw"), std::string::npos) << r.err;
  EXPECT_EQ(RunVhdcrypt({"rekey", img, "--key-file", dir / "old"}).exit_code, 2);  // --new-key-file required
  EXPECT_EQ(testing::ReadText(img), before);
}

}  // namespace
}  // namespace vhdcrypt

namespace vhdcrypt {
namespace {

using testing::RunVhdcrypt;
using testing::WriteText;

int Sh(const std::string& cmd) {
  return std::system(("PATH=$PATH:/sbin:/usr/sbin; " + cmd + " >/dev/null 2>&1").c_str());
}

// The progress-done object of a --progress json run's stdout.
nlohmann::json ProgressDone(const std::string& out) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j["type"] == "progress-done") return j;
  }
  ADD_FAILURE() << "no progress-done in: " << out;
  return nlohmann::json::object();
}

uint64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

// --skip-free-space on a whole-disk ext4 whose 4 MiB marker file was written
// and then deleted (its blocks free, its plaintext still there): only the
// used blocks are encrypted and written, the marker's blocks are zero (a hole)
// in the output and nowhere in its bytes, the manifest says so, and decrypt
// gives every used block back and zeros for the rest, a filesystem e2fsck
// finds clean with the same file in it.
TEST(EncryptCli, SkipFreeSpaceWritesOnlyUsedBlocksAndNoStalePlaintext) {
  testing::TempDir dir;
  const std::string tree = dir / "tree", img = dir / "d.raw";
  std::filesystem::create_directories(tree);
  ASSERT_EQ(Sh("head -c 3145728 /dev/urandom > " + tree + "/keep.bin"), 0);
  const std::string marker = "STALE-PLAINTEXT-MARKER-0123456789";
  {
    std::ofstream m(tree + "/marker.bin", std::ios::binary);
    for (int i = 0; i < (4 << 20) / static_cast<int>(marker.size()); ++i) m << marker;
  }
  ASSERT_EQ(Sh("truncate -s 128M " + img + " && mke2fs -q -F -t ext4 -b 4096 -d " + tree + " " + img +
               " && debugfs -w -R 'rm /marker.bin' " + img),
            0);
  const std::string before = testing::ReadText(img);
  const size_t first_marker = before.find(marker);
  ASSERT_NE(first_marker, std::string::npos) << "the deleted file's bytes should still be in the input";
  WriteText(dir / "key", "skip free space");

  auto enc = RunVhdcrypt({"encrypt", "--data-only", img, "--output-dir", dir / "enc", "--key-file", dir / "key", "--to",
                          "raw", "--skip-free-space", "--pbkdf", "pbkdf2", "--iter-time", "20", "--progress", "json"});
  ASSERT_EQ(enc.exit_code, 0) << enc.err;
  const nlohmann::json enc_done = ProgressDone(enc.out);
  EXPECT_EQ(enc_done["bytes_done"], enc_done["bytes_total"]) << enc.out;
  EXPECT_NE(enc.err.find("in use: only those are encrypted and written"), std::string::npos) << enc.err;
  const auto manifest = nlohmann::json::parse(testing::ReadText(dir / "enc/manifest.json"));
  const auto& vol = manifest["volumes"][0];
  EXPECT_EQ(vol["free_space"], "skipped");
  const uint64_t used = vol["encrypted_bytes"], size = vol["size"], data_offset = vol["data_offset"];
  EXPECT_GT(used, uint64_t{3} << 20);
  EXPECT_LT(used, size / 4);
  const std::string out = testing::ReadText(dir / "enc/d.raw");
  EXPECT_LT(AllocatedBytes(dir / "enc/d.raw"), used + (17u << 20)) << "free blocks were written";
  EXPECT_EQ(out.find(marker), std::string::npos);
  // The deleted file's first block, where the input still holds the marker, is zero in the output.
  const uint64_t block = first_marker / 4096 * 4096;
  EXPECT_EQ(out.substr(data_offset + block, 4096), std::string(4096, '\0'));

  auto full = RunVhdcrypt({"encrypt", "--data-only", img, "--output-dir", dir / "full", "--key-file", dir / "key",
                           "--to", "raw", "--pbkdf", "pbkdf2", "--iter-time", "20", "--progress", "none"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  const auto full_manifest = nlohmann::json::parse(testing::ReadText(dir / "full/manifest.json"));
  EXPECT_EQ(full_manifest["volumes"][0]["free_space"], "encrypted");
  EXPECT_EQ(full_manifest["volumes"][0]["encrypted_bytes"], size);
  EXPECT_EQ(testing::ReadText(dir / "full/d.raw").find(marker), std::string::npos);

  auto dec = RunVhdcrypt({"decrypt", dir / "enc", "--key-file", dir / "key", "--output-dir", dir / "plain", "--to",
                          "raw", "--progress", "json"});
  ASSERT_EQ(dec.exit_code, 0) << dec.err;
  const nlohmann::json dec_done = ProgressDone(dec.out);
  EXPECT_EQ(dec_done["bytes_done"], dec_done["bytes_total"]) << dec.out;
  const std::string plain = testing::ReadText(dir / "plain/d.raw");
  ASSERT_GE(plain.size(), before.size());
  EXPECT_EQ(plain.find(marker), std::string::npos);
  EXPECT_EQ(plain.substr(block, 4096), std::string(4096, '\0'));
  EXPECT_EQ(Sh("e2fsck -fn " + dir / "plain/d.raw"), 0) << "e2fsck found the decrypted filesystem damaged";
  ASSERT_EQ(Sh("debugfs -R 'dump /keep.bin " + dir / "keep.out" + "' " + dir / "plain/d.raw"), 0);
  EXPECT_TRUE(testing::ReadText(dir / "keep.out") == testing::ReadText(tree + "/keep.bin"));
  EXPECT_TRUE(testing::ReadText(img) == before) << "the input changed";
}

// What the flag cannot map is refused with the reason, before anything is
// written: here an XFS whose log does not end in an unmount record (its
// operation flags cleared, as after a crash mid-transaction). The same XFS,
// clean, is mapped.
TEST(EncryptCli, SkipFreeSpaceRefusesAnXfsWhoseLogIsNotClean) {
  testing::TempDir dir;
  const std::string xfs = dir / "x.raw";
  ASSERT_EQ(Sh("truncate -s 320M " + xfs + " && mkfs.xfs -q -f " + xfs), 0);
  WriteText(dir / "key", "skip free space");
  auto clean = RunVhdcrypt({"encrypt", "--data-only", xfs, "--output-dir", dir / "o1", "--skip-free-space",
                            "--key-file", dir / "key", "--pbkdf", "pbkdf2", "--iter-time", "20", "--progress", "none"});
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  const auto manifest = nlohmann::json::parse(testing::ReadText(dir / "o1/manifest.json"));
  EXPECT_EQ(manifest["volumes"][0]["free_space"], "skipped");
  EXPECT_LT(manifest["volumes"][0]["encrypted_bytes"].get<uint64_t>(), uint64_t{100} << 20);

  // The log's first record is its unmount record; its operation header
  // fills the next 512 bytes, its flags at byte 9.
  const std::string zero_flags = R"(python3 -c '
import struct, sys
f = open(sys.argv[1], "r+b")
sb = f.read(512)
bs, = struct.unpack(">I", sb[4:8]); start, = struct.unpack(">Q", sb[48:56])
agblocks, = struct.unpack(">I", sb[84:88]); ag_log = sb[124]
log = ((start >> ag_log) * agblocks + (start & ((1 << ag_log) - 1))) * bs
f.seek(log + 512 + 9); f.write(b"\0")' )";
  ASSERT_EQ(Sh(zero_flags + xfs), 0);
  auto r = RunVhdcrypt({"encrypt", "--data-only", xfs, "--output-dir", dir / "o2", "--skip-free-space", "--key-file",
                        dir / "key", "--progress", "none"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("XFS: its log does not end in an unmount record"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("without --skip-free-space every block is encrypted"), std::string::npos) << r.err;
  EXPECT_TRUE(!std::filesystem::exists(dir / "o2") || std::filesystem::is_empty(dir / "o2"));
}

}  // namespace
}  // namespace vhdcrypt
