#include "src/crypto/secret.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

SecretBytes SecretOf(const std::string& s) {
  SecretBytes secret(s.size());
  std::memcpy(secret.data(), s.data(), s.size());
  return secret;
}

std::string AsString(const SecretBytes& s) { return std::string(reinterpret_cast<const char*>(s.data()), s.size()); }

// The VmFlags line of the mapping that contains addr, from /proc/self/smaps.
std::string VmFlagsOf(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  const auto a = reinterpret_cast<uintptr_t>(addr);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(' ') > line.find('-')) {
      inside = a >= lo && a < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

TEST(SecretBytes, ZeroFilledAndSized) {
  SecretBytes s(100);
  ASSERT_EQ(s.size(), 100u);
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(s.data()) % 4096, 0u);
  EXPECT_TRUE(s.Equals(std::vector<uint8_t>(100, 0)));
  SecretBytes none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.data(), nullptr);
  SecretBytes zero(0);
  EXPECT_TRUE(zero.empty());
}

TEST(SecretBytes, Equals) {
  const SecretBytes s = SecretOf("correct horse");
  EXPECT_TRUE(s.Equals(Bytes("correct horse")));
  EXPECT_FALSE(s.Equals(Bytes("correct horsf")));
  EXPECT_FALSE(s.Equals(Bytes("Correct horse")));
  EXPECT_FALSE(s.Equals(Bytes("correct hors")));
  EXPECT_FALSE(s.Equals(Bytes("correct horse!")));
  EXPECT_FALSE(s.Equals({}));
  EXPECT_TRUE(SecretBytes().Equals({}));
}

TEST(SecretBytes, MoveLeavesTheSourceEmpty) {
  SecretBytes a = SecretOf("secret");
  const uint8_t* where = a.data();
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), where);
  EXPECT_TRUE(b.Equals(Bytes("secret")));

  SecretBytes c = SecretOf("other");
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_TRUE(c.Equals(Bytes("secret")));
}

TEST(SecretBytes, PagesAreExcludedFromCoreDumpsAndLocked) {
  SecretBytes s(10);
  const std::string flags = VmFlagsOf(s.data());
  ASSERT_FALSE(flags.empty());
  EXPECT_NE(flags.find(" dd"), std::string::npos) << flags;
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer turns mlock into a no-op
  struct rlimit lim;
  ASSERT_EQ(::getrlimit(RLIMIT_MEMLOCK, &lim), 0);
  if (lim.rlim_cur >= 4096) {
    EXPECT_NE(flags.find(" lo"), std::string::npos) << flags;
  }
#endif
}

TEST(SecretBytes, ReleaseUnmapsThePages) {
  uint8_t* where = nullptr;
  {
    SecretBytes s = SecretOf("gone");
    where = s.data();
  }
  unsigned char vec = 0;
  EXPECT_EQ(::mincore(where, 4096, &vec), -1);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(SecretBytes, TruncateKeepsThePrefix) {
  SecretBytes s = SecretOf("abcdef");
  s.Truncate(4);
  EXPECT_TRUE(s.Equals(Bytes("abcd")));
  EXPECT_EQ(s.data()[4], 0);  // the dropped tail is wiped
  s.Truncate(10);
  EXPECT_EQ(s.size(), 4u);
}

TEST(ReadKeyFile, ReadsEveryByteIncludingTheTrailingNewline) {
  testing::TempDir dir;
  const std::string content = "pass\xffword\x01\n";
  WriteFile(dir / "key", content);
  auto key = ReadKeyFile(dir / "key");
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_EQ(key->size(), 11u);
  EXPECT_TRUE(key->Equals(Bytes(content)));
}

TEST(ReadKeyFile, ReadsAFileOfExactlyTheLimit) {
  testing::TempDir dir;
  const std::string path = dir / "big";
  WriteFile(path, std::string(kMaxKeyFileSize, 'x'));
  auto key = ReadKeyFile(path);
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_EQ(key->size(), kMaxKeyFileSize);
  EXPECT_EQ(key->data()[0], 'x');
  EXPECT_EQ(key->data()[kMaxKeyFileSize - 1], 'x');
}

void ExpectRefused(const std::string& path, const std::string& expected) {
  auto key = ReadKeyFile(path);
  ASSERT_FALSE(key.ok()) << path;
  EXPECT_EQ(key.error().kind(), ErrorKind::kUsage);
  EXPECT_EQ(key.error().message(), path + ": " + expected);
}

TEST(ReadKeyFile, RefusesMissingFile) {
  testing::TempDir dir;
  ExpectRefused(dir / "nope", "does not exist");
}

TEST(ReadKeyFile, RefusesDirectory) {
  testing::TempDir dir;
  ExpectRefused(dir.path(), "is not a regular file");
}

TEST(ReadKeyFile, RefusesFifoWithoutBlocking) {
  testing::TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  ExpectRefused(dir / "fifo", "is not a regular file");
}

TEST(ReadKeyFile, RefusesDeviceNode) { ExpectRefused("/dev/zero", "is not a regular file"); }

// encrypt took a NUL byte and made images that verify (libguestfs) could not
// open; every command reads key files here, so all refuse it before any work.
TEST(ReadKeyFile, RefusesANulByte) {
  testing::TempDir dir;
  WriteFile(dir / "key", std::string("pass\0word", 9));
  ExpectRefused(dir / "key", "the passphrase contains a NUL byte, which libguestfs cannot pass to cryptsetup");
}

TEST(ReadKeyFile, RefusesEmptyFile) {
  testing::TempDir dir;
  WriteFile(dir / "empty", "");
  ExpectRefused(dir / "empty", "is empty");
}

TEST(ReadKeyFile, RefusesFileLargerThanTheLimit) {
  testing::TempDir dir;
  const std::string path = dir / "huge";
  WriteFile(path, "");
  ASSERT_EQ(::truncate(path.c_str(), kMaxKeyFileSize + 1), 0);  // sparse
  ExpectRefused(path, "is larger than 8 MiB");
}

TEST(ReadKeyFile, FollowsSymlinks) {
  testing::TempDir dir;
  WriteFile(dir / "key", "pw");
  ASSERT_EQ(::symlink((dir / "key").c_str(), (dir / "link").c_str()), 0);
  auto key = ReadKeyFile(dir / "link");
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_TRUE(key->Equals(Bytes("pw")));
}

TEST(RandomSecret, GivesTheRequestedSize) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{32}, size_t{64}, size_t{5000}}) {
    auto s = RandomSecret(n);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->size(), n);
  }
  auto a = RandomSecret(64);
  auto b = RandomSecret(64);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->Equals(b->span()));
  EXPECT_FALSE(a->Equals(std::vector<uint8_t>(64, 0)));
}

// As ADE's extension makes them: 127 random bytes, base64.
TEST(GeneratePassphrase, Is172Base64Characters) {
  auto p = GeneratePassphrase();
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 172u);
  const std::string text = AsString(*p);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < 170; ++i) EXPECT_NE(alphabet.find(text[i]), std::string::npos) << "char " << i;
  EXPECT_EQ(text.substr(170), "==");  // 127 bytes: two padding characters, never a newline or NUL
}

TEST(GeneratePassphrase, DecodesTo127Bytes) {
  auto p = GeneratePassphrase();
  ASSERT_TRUE(p.ok());
  uint8_t decoded[129];
  // EVP_DecodeBlock counts the '=' padding as zero bytes: 129 for 127.
  ASSERT_EQ(EVP_DecodeBlock(decoded, p->data(), static_cast<int>(p->size())), 129);
  uint8_t again[173];
  ASSERT_EQ(EVP_EncodeBlock(again, decoded, 127), 172);
  EXPECT_TRUE(p->Equals(std::span<const uint8_t>(again, 172)));
}

TEST(GeneratePassphrase, TwoCallsDiffer) {
  auto a = GeneratePassphrase();
  auto b = GeneratePassphrase();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->Equals(b->span()));
}

// HardenProcess cannot be undone, so it runs in a forked child.
TEST(HardenProcess, MakesTheProcessUndumpableWithNoCoreLimit) {
  ASSERT_EQ(::prctl(PR_GET_DUMPABLE), 1);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    HardenProcess();
    struct rlimit core;
    const bool core_off = ::getrlimit(RLIMIT_CORE, &core) == 0 && core.rlim_cur == 0 && core.rlim_max == 0;
    const bool undumpable = ::prctl(PR_GET_DUMPABLE) == 0;
    ::_exit((core_off ? 0 : 1) | (undumpable ? 0 : 2));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status) & 1, 0) << "RLIMIT_CORE not 0";
  EXPECT_EQ(WEXITSTATUS(status) & 2, 0) << "still dumpable";
  EXPECT_EQ(::prctl(PR_GET_DUMPABLE), 1);  // the test process itself untouched
}

}  // namespace
}  // namespace vhdcrypt
