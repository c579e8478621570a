#include "src/crypto/luks.h"

#include <dirent.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <libcryptsetup.h>
#include <openssl/evp.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/crypto/secret.h"
#include "tests/formats/temp_dir.h"
#include "tests/tools.h"

namespace vhdcrypt {
namespace {

constexpr char kUuid[] = "0b7d4a2e-3c1f-4e6a-9d2b-5f8e7c6a1b30";
constexpr char kUpperUuid[] = "0B7D4A2E-3C1F-4E6A-9D2B-5F8E7C6A1B30";
constexpr uint64_t kDefaultDataOffset = 16 * 1024 * 1024;

SecretBytes SecretOf(const std::string& s) {
  SecretBytes secret(s.size());
  std::memcpy(secret.data(), s.data(), s.size());
  return secret;
}

SecretBytes NewVolumeKey() {
  auto key = RandomSecret(kLuksKeyBytes);
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

SecretBytes NewPassphrase() {
  auto p = GeneratePassphrase();
  EXPECT_TRUE(p.ok());
  return std::move(p).value();
}

LuksOptions FastPbkdf2(uint32_t sector_size = 512) {
  LuksOptions o;
  o.pbkdf = Pbkdf::kPbkdf2;
  o.iter_time_ms = 50;
  o.sector_size = sector_size;
  return o;
}

LuksOptions FastArgon2id() {
  LuksOptions o;
  o.pbkdf = Pbkdf::kArgon2id;
  o.iter_time_ms = 50;
  o.max_memory_kb = 16 * 1024;
  return o;
}

bool IsLowercaseUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : std::string("0123456789abcdef").find(s[i]) == std::string::npos) return false;
  }
  return true;
}

std::string CryptsetupBinary() { return testing::FindTool("cryptsetup"); }

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// `cryptsetup luksDump` of a file holding exactly the header bytes.
std::string LuksDump(const std::vector<uint8_t>& header, int* exit_status) {
  testing::TempDir dir;
  WriteBytes(dir / "header.img", header);
  auto r = testing::Shell(CryptsetupBinary() + " luksDump " + (dir / "header.img") + " 2>&1");
  *exit_status = r.exit_code;
  return r.out;
}

// The value after the first "key" at the start of a (left-trimmed) line.
std::string Field(const std::string& dump, const std::string& key) {
  std::istringstream in(dump);
  std::string line;
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line.compare(start, key.size(), key) != 0) continue;
    std::string value = line.substr(start + key.size());
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t") + 1);
    return value;
  }
  return "<" + key + " missing>";
}

// Field() within the part of the dump from the line "section" on, e.g. the
// digest's "Iterations:" after "Digests:".
std::string FieldIn(const std::string& dump, const std::string& section, const std::string& key) {
  const size_t at = dump.find("\n" + section + "\n");
  if (at == std::string::npos) return "<" + section + " missing>";
  return Field(dump.substr(at), key);
}

// The PBKDF costs libcryptsetup reads from key slot 0 of a header.
struct SlotCost {
  std::string type;
  uint32_t iterations = 0, memory_kb = 0, threads = 0;
  bool operator==(const SlotCost&) const = default;
};

std::ostream& operator<<(std::ostream& os, const SlotCost& c) {
  return os << c.type << " iterations " << c.iterations << " memory " << c.memory_kb << " threads " << c.threads;
}

SlotCost KeySlotCost(const std::vector<uint8_t>& header) {
  testing::TempDir dir;
  WriteBytes(dir / "header.img", header);
  SlotCost cost;
  crypt_device* cd = nullptr;
  if (crypt_init(&cd, (dir / "header.img").c_str()) != 0) return cost;
  crypt_pbkdf_type p = {};
  if (crypt_load(cd, CRYPT_LUKS2, nullptr) == 0 && crypt_keyslot_get_pbkdf(cd, 0, &p) == 0) {
    cost = {p.type != nullptr ? p.type : "", p.iterations, p.max_memory_kb, p.parallel_threads};
  }
  crypt_free(cd);
  return cost;
}

std::string Hex(std::span<const uint8_t> bytes, const char* separator) {
  std::string out;
  char b[3];
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::snprintf(b, sizeof b, "%02x", bytes[i]);
    if (i > 0) out += separator;
    out += b;
  }
  return out;
}

std::string Base64(std::span<const uint8_t> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

template <typename Haystack>
bool Contains(const Haystack& haystack, std::span<const uint8_t> needle) {
  auto h = reinterpret_cast<const uint8_t*>(haystack.data());
  return std::search(h, h + haystack.size(), needle.begin(), needle.end()) != h + haystack.size();
}

bool ContainsText(const std::string& haystack, const std::string& needle) {
  std::string h = haystack, n = needle;
  std::transform(h.begin(), h.end(), h.begin(), ::tolower);
  std::transform(n.begin(), n.end(), n.begin(), ::tolower);
  return h.find(n) != std::string::npos;
}

// Every way a secret could plausibly be spelled in a header or a log.
std::vector<std::vector<uint8_t>> Spellings(const SecretBytes& secret) {
  std::vector<std::vector<uint8_t>> out;
  auto add = [&](std::span<const uint8_t> s) { out.emplace_back(s.begin(), s.end()); };
  auto add_text = [&](const std::string& s) { out.emplace_back(s.begin(), s.end()); };
  add(secret.span());
  if (secret.size() == kLuksKeyBytes) {
    add(secret.span().first(kLuksKeyBytes / 2));
    add(secret.span().last(kLuksKeyBytes / 2));
  }
  add_text(Hex(secret.span(), ""));
  add_text(Hex(secret.span(), " "));
  add_text(Hex(secret.span().first(16), ""));
  add_text(Hex(secret.span().first(16), " "));
  add_text(Base64(secret.span()));
  return out;
}

// Formatting without explicit costs takes a second or two (libcryptsetup
// benchmarks PBKDF2 twice, for the digest and for the key slot, whatever time
// we ask for), so the headers most tests read are made once per process, on
// first use (ctest runs each test in a process of its own); so are the
// calibrated options.
enum class Kind { kPbkdf2_512, kPbkdf2_4096, kArgon2id };

struct SharedHeaders {
  SecretBytes passphrase = NewPassphrase();
  SecretBytes key = NewVolumeKey();
  std::map<Kind, Result<LuksHeader>> headers;
  std::map<Pbkdf, Result<LuksOptions>> calibrated;
};

class LuksTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_ = new SharedHeaders; }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }

  // The pbkdf2 headers carry kUuid (the 512 one asked for as kUpperUuid), the
  // argon2id one too.
  static const Result<LuksHeader>& Formatted(Kind kind) {
    auto it = shared_->headers.find(kind);
    if (it != shared_->headers.end()) return it->second;
    LuksOptions o = kind == Kind::kArgon2id ? FastArgon2id() : FastPbkdf2(kind == Kind::kPbkdf2_512 ? 512 : 4096);
    o.uuid = kind == Kind::kPbkdf2_512 ? kUpperUuid : kUuid;
    return shared_->headers.emplace(kind, FormatLuksHeader(shared_->passphrase, shared_->key, o)).first->second;
  }

  // FastPbkdf2() or FastArgon2id() through CalibrateLuksOptions, once per process.
  static const LuksOptions& Calibrated(Pbkdf pbkdf) {
    auto it = shared_->calibrated.find(pbkdf);
    if (it == shared_->calibrated.end()) {
      const LuksOptions asked = pbkdf == Pbkdf::kPbkdf2 ? FastPbkdf2() : FastArgon2id();
      it = shared_->calibrated.emplace(pbkdf, CalibrateLuksOptions(asked)).first;
    }
    EXPECT_TRUE(it->second.ok()) << it->second.error().message();
    static const LuksOptions kUncalibrated;
    return it->second.ok() ? *it->second : kUncalibrated;
  }

  static const LuksHeader& Header(Kind kind) {
    const Result<LuksHeader>& h = Formatted(kind);
    EXPECT_TRUE(h.ok()) << h.error().message();
    static const LuksHeader kEmpty;
    return h.ok() ? *h : kEmpty;
  }

  static inline SharedHeaders* shared_ = nullptr;
  const SecretBytes& passphrase_ = shared_->passphrase;
  const SecretBytes& key_ = shared_->key;
};

// luksDump of a header made with kUuid: the fields every header shares.
std::string CheckedDump(const LuksHeader& h, uint32_t sector, const std::string& pbkdf) {
  int status = -1;
  const std::string dump = LuksDump(h.bytes, &status);
  EXPECT_EQ(status, 0) << dump;
  EXPECT_EQ(Field(dump, "Version:"), "2") << dump;
  EXPECT_EQ(Field(dump, "UUID:"), kUuid) << dump;
  EXPECT_EQ(Field(dump, "offset:"), "16777216 [bytes]") << dump;
  EXPECT_EQ(Field(dump, "cipher:"), "aes-xts-plain64") << dump;
  EXPECT_EQ(Field(dump, "sector:"), std::to_string(sector) + " [bytes]") << dump;
  EXPECT_EQ(Field(dump, "PBKDF:"), pbkdf) << dump;
  return dump;
}

TEST_F(LuksTest, Pbkdf2HeaderIsWhatLuksDumpExpects) {
  if (CryptsetupBinary().empty()) GTEST_SKIP() << "no cryptsetup binary";
  for (Kind kind : {Kind::kPbkdf2_512, Kind::kPbkdf2_4096}) {
    const Result<LuksHeader>& r = Formatted(kind);
    ASSERT_TRUE(r.ok()) << r.error().message();
    const LuksHeader& h = *r;
    const uint32_t sector = kind == Kind::kPbkdf2_512 ? 512 : 4096;
    EXPECT_EQ(h.uuid, kUuid);
    EXPECT_EQ(h.data_offset, kDefaultDataOffset);
    EXPECT_EQ(h.bytes.size(), kDefaultDataOffset);
    EXPECT_EQ(h.sector_size, sector);
    EXPECT_EQ(h.pbkdf, Pbkdf::kPbkdf2);

    const std::string dump = CheckedDump(h, sector, "pbkdf2");
    SCOPED_TRACE(dump);
    EXPECT_EQ(Field(dump, "length:"), "(whole device)");
    EXPECT_EQ(Field(dump, "Key:"), "512 bits");
    EXPECT_EQ(Field(dump, "Hash:"), "sha256");
    EXPECT_EQ(dump.find("1: luks2"), std::string::npos);  // one key slot only
  }
}

TEST_F(LuksTest, Argon2idHeaderIsWhatLuksDumpExpects) {
  if (CryptsetupBinary().empty()) GTEST_SKIP() << "no cryptsetup binary";
  const LuksHeader& h = Header(Kind::kArgon2id);
  EXPECT_EQ(h.pbkdf, Pbkdf::kArgon2id);
  const std::string dump = CheckedDump(h, 512, "argon2id");
  SCOPED_TRACE(dump);
  const std::string memory = Field(dump, "Memory:");
  EXPECT_LE(std::stoul(memory), FastArgon2id().max_memory_kb) << memory;
  const unsigned long threads = std::stoul(Field(dump, "Threads:"));
  EXPECT_GE(threads, 1u);
  EXPECT_LE(threads, 4u);
}

TEST_F(LuksTest, HeaderLoadsWithLibcryptsetup) {
  const LuksHeader& h = Header(Kind::kPbkdf2_4096);
  testing::TempDir dir;
  WriteBytes(dir / "header.img", h.bytes);
  crypt_device* cd = nullptr;
  ASSERT_EQ(crypt_init(&cd, (dir / "header.img").c_str()), 0);
  EXPECT_EQ(crypt_load(cd, CRYPT_LUKS2, nullptr), 0);
  EXPECT_STREQ(crypt_get_type(cd), CRYPT_LUKS2);
  EXPECT_STREQ(crypt_get_cipher(cd), "aes");
  EXPECT_STREQ(crypt_get_cipher_mode(cd), "xts-plain64");
  EXPECT_STREQ(crypt_get_uuid(cd), kUuid);
  EXPECT_EQ(crypt_get_volume_key_size(cd), 64);
  EXPECT_EQ(crypt_get_data_offset(cd), kDefaultDataOffset / 512);
  EXPECT_EQ(crypt_get_sector_size(cd), 4096);
  EXPECT_EQ(crypt_keyslot_status(cd, 0), CRYPT_SLOT_ACTIVE_LAST);
  crypt_free(cd);
}

TEST_F(LuksTest, UnlockReturnsTheVolumeKey) {
  for (Kind kind : {Kind::kPbkdf2_512, Kind::kPbkdf2_4096, Kind::kArgon2id}) {
    auto key = UnlockLuksHeader(Header(kind).bytes, passphrase_);
    ASSERT_TRUE(key.ok()) << key.error().message();
    EXPECT_EQ(key->size(), kLuksKeyBytes);
    EXPECT_TRUE(key->Equals(key_.span()));
  }
}

// ADE's OS-volume layout: the header is a file of its own and the data
// segment starts at the volume's first byte.
TEST_F(LuksTest, DetachedHeaderStartsTheDataAtOffsetZero) {
  LuksOptions options = FastPbkdf2(4096);
  options.uuid = kUuid;
  options.detached = true;
  auto r = FormatLuksHeader(passphrase_, key_, options);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->data_offset, 0u);
  EXPECT_EQ(r->bytes.size(), kDefaultDataOffset);  // the 16 MiB cryptsetup gives a --header file
  EXPECT_EQ(r->uuid, kUuid);

  auto key = UnlockLuksHeader(r->bytes, passphrase_);
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_TRUE(key->Equals(key_.span()));

  if (CryptsetupBinary().empty()) GTEST_SKIP() << "no cryptsetup binary";
  int status = -1;
  const std::string dump = LuksDump(r->bytes, &status);
  EXPECT_EQ(status, 0) << dump;
  EXPECT_EQ(Field(dump, "offset:"), "0 [bytes]") << dump;
  EXPECT_EQ(Field(dump, "length:"), "(whole device)") << dump;
  EXPECT_EQ(Field(dump, "sector:"), "4096 [bytes]") << dump;
  EXPECT_EQ(Field(dump, "UUID:"), kUuid) << dump;
}

TEST_F(LuksTest, WrongPassphraseIsRefused) {
  const LuksHeader& h = Header(Kind::kPbkdf2_512);
  SecretBytes shorter(passphrase_.size() - 1);
  std::memcpy(shorter.data(), passphrase_.data(), shorter.size());
  auto prefix = UnlockLuksHeader(h.bytes, shorter);
  ASSERT_FALSE(prefix.ok());
  EXPECT_EQ(prefix.error().kind(), ErrorKind::kUsage);
  EXPECT_EQ(prefix.error().message(), "no key slot opens with this passphrase");
  auto other = UnlockLuksHeader(Header(Kind::kArgon2id).bytes, SecretOf("not the passphrase"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind(), ErrorKind::kUsage);
  EXPECT_EQ(other.error().message(), "no key slot opens with this passphrase");
}

TEST_F(LuksTest, RandomUuidWhenNoneIsGiven) {
  auto a = FormatLuksHeader(passphrase_, key_, FastPbkdf2());
  auto b = FormatLuksHeader(passphrase_, key_, FastPbkdf2());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(IsLowercaseUuid(a->uuid)) << a->uuid;
  EXPECT_TRUE(IsLowercaseUuid(b->uuid)) << b->uuid;
  EXPECT_NE(a->uuid, b->uuid);
  // The returned UUID is the one in the header.
  EXPECT_TRUE(Contains(a->bytes, std::span(reinterpret_cast<const uint8_t*>(a->uuid.data()), a->uuid.size())));
}

TEST_F(LuksTest, UppercaseUuidComesBackLowercase) {
  EXPECT_EQ(Header(Kind::kPbkdf2_512).uuid, kUuid);  // formatted with kUpperUuid
}

TEST_F(LuksTest, BadOptionsAreRefused) {
  struct Case {
    const char* what;
    LuksOptions options;
    size_t key_size;
    bool equal_halves;
    bool empty_passphrase;
    const char* message_part;
  };
  LuksOptions sector_1024 = FastPbkdf2(1024), sector_0 = FastPbkdf2(0), bad_uuid = FastPbkdf2(),
              zero_time = FastPbkdf2(), tiny_memory = FastArgon2id();
  bad_uuid.uuid = "not-a-uuid";
  zero_time.iter_time_ms = 0;
  tiny_memory.max_memory_kb = 8;
  // Explicit costs.
  LuksOptions few_iterations = FastPbkdf2(), pbkdf2_memory = FastPbkdf2(), argon2_time = FastArgon2id(),
              argon2_memory = FastArgon2id(), over_cap = FastArgon2id(), no_threads = FastArgon2id(),
              five_threads = FastArgon2id(), memory_alone = FastArgon2id();
  few_iterations.iterations = 999;
  pbkdf2_memory.iterations = 1000;
  pbkdf2_memory.memory_kb = 1024;
  for (LuksOptions* o : {&argon2_time, &argon2_memory, &over_cap, &no_threads, &five_threads}) {
    o->iterations = 4;
    o->memory_kb = 1024;
    o->parallel_threads = 1;
  }
  argon2_time.iterations = 3;
  argon2_memory.memory_kb = 31;
  over_cap.memory_kb = over_cap.max_memory_kb + 1;
  no_threads.parallel_threads = 0;
  five_threads.parallel_threads = 5;
  memory_alone.memory_kb = 1024;
  const Case cases[] = {
      {"sector 1024", sector_1024, 64, false, false, "sector size 1024"},
      {"sector 0", sector_0, 64, false, false, "sector size 0"},
      {"32-byte key", FastPbkdf2(), 32, false, false, "volume key is 32 bytes"},
      {"empty key", FastPbkdf2(), 0, false, false, "volume key is 0 bytes"},
      {"equal halves", FastPbkdf2(), 64, true, false, "equal halves"},
      {"empty passphrase", FastPbkdf2(), 64, false, true, "passphrase is empty"},
      {"bad uuid", bad_uuid, 64, false, false, "\"not-a-uuid\" is not a UUID"},
      {"zero time", zero_time, 64, false, false, "iteration time"},
      {"tiny memory", tiny_memory, 64, false, false, "8 KiB"},
      {"999 iterations", few_iterations, 64, false, false, "iterations 999 are below the minimum of 1000"},
      {"pbkdf2 memory", pbkdf2_memory, 64, false, false, "pbkdf2 has no memory or thread cost"},
      {"time cost 3", argon2_time, 64, false, false, "time cost 3 is below the minimum of 4"},
      {"memory cost 31", argon2_memory, 64, false, false, "memory cost of 31 KiB"},
      {"memory over cap", over_cap, 64, false, false, "memory cost of 16385 KiB"},
      {"no threads", no_threads, 64, false, false, "parallel threads 0"},
      {"five threads", five_threads, 64, false, false, "parallel threads 5"},
      {"memory without iterations", memory_alone, 64, false, false, "without iterations"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    SecretBytes key(c.key_size);
    if (c.key_size > 0) std::memcpy(key.data(), key_.data(), std::min<size_t>(c.key_size, key_.size()));
    if (c.equal_halves) std::memcpy(key.data() + 32, key.data(), 32);
    const SecretBytes empty;
    auto h = FormatLuksHeader(c.empty_passphrase ? empty : passphrase_, key, c.options);
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.error().kind(), ErrorKind::kUsage);
    EXPECT_NE(h.error().message().find(c.message_part), std::string::npos) << h.error().message();
  }
}

// CalibrateLuksOptions checks the PBKDF options as FormatLuksHeader does.
TEST_F(LuksTest, CalibrationRefusesBadOptions) {
  LuksOptions zero_time = FastPbkdf2(), tiny_memory = FastArgon2id(), memory_alone = FastArgon2id(),
              few_iterations = FastPbkdf2(), too_much = FastArgon2id();
  zero_time.iter_time_ms = 0;
  tiny_memory.max_memory_kb = 8;
  memory_alone.parallel_threads = 2;
  few_iterations.iterations = 10;
  too_much.max_memory_kb = 8 * 1024 * 1024;  // refused by libcryptsetup itself
  const std::pair<LuksOptions, const char*> cases[] = {
      {zero_time, "iteration time"},         {tiny_memory, "8 KiB"}, {memory_alone, "without iterations"},
      {few_iterations, "iterations 10 are"}, {too_much, "memory"},
  };
  for (const auto& [options, message_part] : cases) {
    SCOPED_TRACE(message_part);
    auto c = CalibrateLuksOptions(options);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().kind(), ErrorKind::kUsage);
    EXPECT_NE(c.error().message().find(message_part), std::string::npos) << c.error().message();
  }
}

TEST_F(LuksTest, CalibrationFillsInTheCosts) {
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  ASSERT_GT(cpus, 0);
  for (Pbkdf pbkdf : {Pbkdf::kPbkdf2, Pbkdf::kArgon2id}) {
    SCOPED_TRACE(PbkdfName(pbkdf));
    const LuksOptions asked = pbkdf == Pbkdf::kPbkdf2 ? FastPbkdf2() : FastArgon2id();
    const LuksOptions& o = Calibrated(pbkdf);
    // Only the costs change.
    EXPECT_EQ(o.pbkdf, asked.pbkdf);
    EXPECT_EQ(o.iter_time_ms, asked.iter_time_ms);
    EXPECT_EQ(o.max_memory_kb, asked.max_memory_kb);
    EXPECT_EQ(o.sector_size, asked.sector_size);
    EXPECT_EQ(o.uuid, asked.uuid);
    if (pbkdf == Pbkdf::kPbkdf2) {
      EXPECT_GE(o.iterations, 1000u);
      EXPECT_EQ(o.memory_kb, 0u);
      EXPECT_EQ(o.parallel_threads, 0u);
    } else {
      EXPECT_GE(o.iterations, 4u);
      EXPECT_GE(o.memory_kb, 32u);
      EXPECT_LE(o.memory_kb, asked.max_memory_kb);
      // cryptsetup's 4 threads, lowered to the CPUs online as libcryptsetup does.
      EXPECT_EQ(o.parallel_threads, static_cast<uint32_t>(std::min(4L, cpus)));
    }
    // Options that carry costs come back as they are, without a benchmark.
    auto again = CalibrateLuksOptions(o);
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_EQ(again->iterations, o.iterations);
    EXPECT_EQ(again->memory_kb, o.memory_kb);
    EXPECT_EQ(again->parallel_threads, o.parallel_threads);
  }
}

// Every header formatted with calibrated options carries exactly the
// calibrated key slot cost (a benchmark would have landed elsewhere), and the
// volume key digest gets libcryptsetup's PBKDF2 minimum instead of a
// benchmarked count.
TEST_F(LuksTest, CalibratedHeadersCarryExactlyTheCalibratedCosts) {
  for (Pbkdf pbkdf : {Pbkdf::kPbkdf2, Pbkdf::kArgon2id}) {
    SCOPED_TRACE(PbkdfName(pbkdf));
    const LuksOptions& o = Calibrated(pbkdf);
    auto a = FormatLuksHeader(passphrase_, key_, o);
    auto b = FormatLuksHeader(passphrase_, key_, o);
    ASSERT_TRUE(a.ok()) << a.error().message();
    ASSERT_TRUE(b.ok()) << b.error().message();
    const SlotCost want{PbkdfName(pbkdf), o.iterations, o.memory_kb, o.parallel_threads};
    EXPECT_EQ(KeySlotCost(a->bytes), want);
    EXPECT_EQ(KeySlotCost(b->bytes), want);
    EXPECT_NE(a->uuid, b->uuid);
    auto key = UnlockLuksHeader(b->bytes, passphrase_);
    ASSERT_TRUE(key.ok()) << key.error().message();
    EXPECT_TRUE(key->Equals(key_.span()));

    if (CryptsetupBinary().empty()) continue;
    int status = -1;
    const std::string dump = LuksDump(a->bytes, &status);
    SCOPED_TRACE(dump);
    ASSERT_EQ(status, 0);
    EXPECT_EQ(Field(dump, "PBKDF:"), PbkdfName(pbkdf));
    if (pbkdf == Pbkdf::kPbkdf2) {
      EXPECT_EQ(Field(dump, "Iterations:"), std::to_string(o.iterations));  // the key slot's, listed first
    } else {
      EXPECT_EQ(Field(dump, "Time cost:"), std::to_string(o.iterations));
      EXPECT_EQ(Field(dump, "Memory:"), std::to_string(o.memory_kb));
      EXPECT_EQ(Field(dump, "Threads:"), std::to_string(o.parallel_threads));
    }
    EXPECT_EQ(FieldIn(dump, "Digests:", "Hash:"), "sha256");
    EXPECT_EQ(FieldIn(dump, "Digests:", "Iterations:"), "1000");
  }
}

// Costs no benchmark would pick are written as given.
TEST_F(LuksTest, ExplicitCostsAreUsedVerbatim) {
  LuksOptions p = FastPbkdf2(4096), a = FastArgon2id();
  p.iterations = 1234;
  a.iterations = 5;
  a.memory_kb = 4321;
  a.parallel_threads = 1;
  for (const LuksOptions& o : {p, a}) {
    SCOPED_TRACE(PbkdfName(o.pbkdf));
    auto h = FormatLuksHeader(passphrase_, key_, o);
    ASSERT_TRUE(h.ok()) << h.error().message();
    EXPECT_EQ(KeySlotCost(h->bytes), (SlotCost{PbkdfName(o.pbkdf), o.iterations, o.memory_kb, o.parallel_threads}));
    auto key = UnlockLuksHeader(h->bytes, passphrase_);
    ASSERT_TRUE(key.ok()) << key.error().message();
    EXPECT_TRUE(key->Equals(key_.span()));
  }
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// Why a calibrated format is fast, without timing it: libcryptsetup's debug
// log shows two PBKDF2 benchmarks (volume key digest, then key slot) in an
// uncalibrated format and none in a calibrated one.
TEST_F(LuksTest, CalibratedFormatRunsNoBenchmark) {
  const LuksOptions& calibrated = Calibrated(Pbkdf::kPbkdf2);
  auto previous = spdlog::default_logger();
  std::ostringstream captured;
  auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_st>(captured));
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  crypt_set_debug_level(CRYPT_DEBUG_ALL);

  auto fast = FormatLuksHeader(passphrase_, key_, calibrated);
  const std::string fast_log = captured.str();
  captured.str("");
  auto slow = FormatLuksHeader(passphrase_, key_, FastPbkdf2());
  const std::string slow_log = captured.str();

  crypt_set_debug_level(CRYPT_DEBUG_NONE);
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(fast.ok()) << fast.error().message();
  ASSERT_TRUE(slow.ok()) << slow.error().message();

  EXPECT_EQ(Count(slow_log, "Running pbkdf2(sha256) benchmark"), 2u) << slow_log;
  EXPECT_EQ(Count(fast_log, "benchmark"), Count(fast_log, "no benchmark flag is set")) << fast_log;
  EXPECT_EQ(Count(fast_log, " benchmark."), 0u) << fast_log;  // "Running pbkdf2(sha256) benchmark."
  EXPECT_EQ(Count(fast_log, "Benchmark returns"), 0u) << fast_log;
  EXPECT_NE(fast_log.find("Setting PBKDF2 type key digest"), std::string::npos) << fast_log;
  EXPECT_NE(fast_log.find("Reusing PBKDF values (no benchmark flag is set)"), std::string::npos) << fast_log;
}

TEST_F(LuksTest, LibcryptsetupRefusalCarriesItsMessage) {
  LuksOptions o = FastArgon2id();
  o.max_memory_kb = 8 * 1024 * 1024;  // above libcryptsetup's 4 GiB ceiling
  auto h = FormatLuksHeader(passphrase_, key_, o);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.error().message().find("argon2id"), std::string::npos) << h.error().message();
  EXPECT_NE(h.error().message().find("memory"), std::string::npos) << h.error().message();
}

TEST_F(LuksTest, NotAHeaderIsInvalidInput) {
  auto zeros = UnlockLuksHeader(std::vector<uint8_t>(kDefaultDataOffset, 0), passphrase_);
  ASSERT_FALSE(zeros.ok());
  EXPECT_EQ(zeros.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_EQ(zeros.error().message(), "not a valid LUKS2 header");
  auto tiny = UnlockLuksHeader(std::vector<uint8_t>(100, 0), passphrase_);
  ASSERT_FALSE(tiny.ok());
  EXPECT_EQ(tiny.error().kind(), ErrorKind::kInvalidInput);
}

TEST_F(LuksTest, HeaderHoldsNoPlaintextSecret) {
  for (Kind kind : {Kind::kPbkdf2_512, Kind::kPbkdf2_4096, Kind::kArgon2id}) {
    const LuksHeader& h = Header(kind);
    ASSERT_FALSE(h.bytes.empty());
    for (const auto& s : Spellings(passphrase_)) EXPECT_FALSE(Contains(h.bytes, s));
    for (const auto& s : Spellings(key_)) EXPECT_FALSE(Contains(h.bytes, s));
  }
}

// libcryptsetup's messages, with its debug and JSON output on, routed through
// spdlog: they must show up and must not spell a secret.
TEST_F(LuksTest, LogsNeverSpellASecret) {
  auto previous = spdlog::default_logger();
  std::ostringstream captured;
  auto logger = std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_st>(captured));
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  crypt_set_debug_level(CRYPT_DEBUG_JSON);

  LuksOptions explicit_costs = FastArgon2id();
  explicit_costs.iterations = 4;
  explicit_costs.memory_kb = 1024;
  explicit_costs.parallel_threads = 1;
  auto h = FormatLuksHeader(passphrase_, key_, FastPbkdf2(4096));
  auto fixed = FormatLuksHeader(passphrase_, key_, explicit_costs);
  Result<SecretBytes> right =
      h.ok() ? UnlockLuksHeader(h->bytes, passphrase_) : Result<SecretBytes>(IoError("no header"));
  Result<SecretBytes> wrong =
      h.ok() ? UnlockLuksHeader(h->bytes, SecretOf("wrong")) : Result<SecretBytes>(IoError("no header"));

  crypt_set_debug_level(CRYPT_DEBUG_NONE);
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(h.ok()) << h.error().message();
  ASSERT_TRUE(fixed.ok()) << fixed.error().message();
  ASSERT_TRUE(right.ok()) << right.error().message();
  ASSERT_FALSE(wrong.ok());

  const std::string log = captured.str();
  EXPECT_NE(log.find("libcryptsetup: "), std::string::npos);
  EXPECT_NE(log.find("\"keyslots\""), std::string::npos);  // the JSON dump did come through
  for (const auto& s : Spellings(passphrase_)) EXPECT_FALSE(Contains(log, s));
  for (const auto& s : Spellings(key_)) {
    EXPECT_FALSE(Contains(log, s));
    EXPECT_FALSE(ContainsText(log, std::string(s.begin(), s.end())));
  }
}

size_t OpenDescriptors() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

TEST_F(LuksTest, ClosesEveryDescriptorOnEveryPath) {
  // libcryptsetup opens /dev/urandom and /dev/random (O_CLOEXEC) at its
  // first crypt_init and keeps them for the life of the process: count after.
  EXPECT_FALSE(UnlockLuksHeader(std::vector<uint8_t>(kDefaultDataOffset, 0), passphrase_).ok());
  const size_t before = OpenDescriptors();
  auto h = FormatLuksHeader(passphrase_, key_, FastPbkdf2());
  ASSERT_TRUE(h.ok()) << h.error().message();
  EXPECT_TRUE(UnlockLuksHeader(h->bytes, passphrase_).ok());
  EXPECT_FALSE(UnlockLuksHeader(h->bytes, SecretOf("wrong")).ok());
  EXPECT_FALSE(UnlockLuksHeader(std::vector<uint8_t>(kDefaultDataOffset, 0), passphrase_).ok());
  LuksOptions refused = FastArgon2id();
  refused.max_memory_kb = 8 * 1024 * 1024;
  EXPECT_FALSE(FormatLuksHeader(passphrase_, key_, refused).ok());
  EXPECT_EQ(OpenDescriptors(), before);
}

size_t Entries(const char* dir) {
  DIR* d = ::opendir(dir);
  if (d == nullptr) return 0;
  size_t n = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  ::closedir(d);
  return n;
}

// In a child with a private mount namespace, empty tmpfs over every place a
// scratch file could go (and as the working directory): after formatting and
// unlocking, they are still empty. Needs CAP_SYS_ADMIN; skipped without.
TEST_F(LuksTest, WritesNoFile) {
  const char* const dirs[] = {"/tmp", "/var/tmp", "/dev/shm", "/run/cryptsetup", "/run/lock"};
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(77);
    for (const char* d : dirs) {
      struct stat st;
      if (::stat(d, &st) == 0 && ::mount("scratch", d, "tmpfs", 0, "mode=1777") != 0) _exit(78);
    }
    if (::chdir("/tmp") != 0) _exit(79);
    auto h = FormatLuksHeader(passphrase_, key_, FastPbkdf2());
    if (!h.ok()) _exit(80);
    if (!UnlockLuksHeader(h->bytes, passphrase_).ok()) _exit(81);
    size_t left = 0;
    for (const char* d : dirs) left += Entries(d);
    _exit(left == 0 ? 0 : 82);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "no private mount namespace here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "78: mount, 80: format, 81: unlock, 82: files were left";
}

// HardenProcess makes /proc/self/fd root-owned; libcryptsetup still reaches
// the memfd through it, also as an unprivileged user.
TEST_F(LuksTest, WorksInAHardenedUnprivilegedProcess) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
                             ::setresuid(65534, 65534, 65534) != 0)) {
      _exit(77);
    }
    HardenProcess();
    auto h = FormatLuksHeader(passphrase_, key_, FastPbkdf2());
    if (!h.ok()) _exit(80);
    auto key = UnlockLuksHeader(h->bytes, passphrase_);
    _exit(key.ok() && key->Equals(key_.span()) ? 0 : 81);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "77: setuid, 80: format, 81: unlock";
}

// Not a check: how long the default options take and how much memory they
// need. Run alone: crypto_test --gtest_also_run_disabled_tests
// --gtest_filter='*DefaultOptionsCost*'
TEST_F(LuksTest, DISABLED_DefaultOptionsCost) {
  const auto start = std::chrono::steady_clock::now();
  auto h = FormatLuksHeader(passphrase_, key_, LuksOptions());
  const auto formatted = std::chrono::steady_clock::now();
  ASSERT_TRUE(h.ok()) << h.error().message();
  auto key = UnlockLuksHeader(h->bytes, passphrase_);
  const auto unlocked = std::chrono::steady_clock::now();
  ASSERT_TRUE(key.ok()) << key.error().message();
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  using ms = std::chrono::milliseconds;
  std::printf("format %lld ms, unlock %lld ms, peak RSS %ld KiB\n",
              static_cast<long long>(std::chrono::duration_cast<ms>(formatted - start).count()),
              static_cast<long long>(std::chrono::duration_cast<ms>(unlocked - formatted).count()), ru.ru_maxrss);
  if (!CryptsetupBinary().empty()) {
    int status = -1;
    const std::string dump = LuksDump(h->bytes, &status);
    std::printf("PBKDF %s, time cost %s, memory %s, threads %s\n", Field(dump, "PBKDF:").c_str(),
                Field(dump, "Time cost:").c_str(), Field(dump, "Memory:").c_str(), Field(dump, "Threads:").c_str());
  }
  // What `vhdcrypt encrypt` does instead: calibrate once, then format each
  // volume without a benchmark.
  const auto calibrating = std::chrono::steady_clock::now();
  auto calibrated = CalibrateLuksOptions(LuksOptions());
  const auto calibrated_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(calibrated.ok()) << calibrated.error().message();
  std::printf("calibrate %lld ms: time cost %u, memory %u KiB, threads %u\n",
              static_cast<long long>(std::chrono::duration_cast<ms>(calibrated_at - calibrating).count()),
              calibrated->iterations, calibrated->memory_kb, calibrated->parallel_threads);
  for (int i = 0; i < 2; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto c = FormatLuksHeader(passphrase_, key_, *calibrated);
    const auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(c.ok()) << c.error().message();
    std::printf("calibrated format %lld ms\n", static_cast<long long>(std::chrono::duration_cast<ms>(t1 - t0).count()));
  }
}

// rekey's change on a header: the new passphrase opens the same volume key,
// the old opens nothing, the bytes keep their size and the rest of the
// header (UUID, cipher, sector size, segment) stays.
TEST_F(LuksTest, ChangePassphraseSwapsTheKeySlotOnly) {
  const LuksHeader& h = Header(Kind::kPbkdf2_4096);
  const SecretBytes fresh = SecretOf("a new passphrase");
  auto changed = ChangeLuksPassphrase(h.bytes, passphrase_, fresh, Calibrated(Pbkdf::kPbkdf2));
  ASSERT_TRUE(changed.ok()) << changed.error().message();
  ASSERT_EQ(changed->size(), h.bytes.size());
  EXPECT_NE(*changed, h.bytes);
  auto opened = UnlockLuksVolume(*changed, fresh);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  EXPECT_TRUE(std::equal(opened->key.data(), opened->key.data() + opened->key.size(), key_.data()));
  EXPECT_EQ(opened->cipher, "aes-xts-plain64");
  EXPECT_EQ(opened->sector_size, 4096u);
  EXPECT_EQ(opened->data_offset, 16u << 20);
  auto old = UnlockLuksHeader(*changed, passphrase_);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().kind(), ErrorKind::kUsage);
  int status = -1;
  const std::string dump = LuksDump(*changed, &status);
  EXPECT_EQ(status, 0) << dump;
  EXPECT_EQ(Field(dump, "UUID:"), kUuid) << dump;
  // A wrong old passphrase changes nothing and says so.
  auto wrong = ChangeLuksPassphrase(h.bytes, SecretOf("wrong"), fresh, Calibrated(Pbkdf::kPbkdf2));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind(), ErrorKind::kUsage);
  EXPECT_NE(wrong.error().message().find("no key slot opens with the old passphrase"), std::string::npos);
  auto garbage = ChangeLuksPassphrase(std::vector<uint8_t>(8192, 0x5a), passphrase_, fresh, Calibrated(Pbkdf::kPbkdf2));
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().kind(), ErrorKind::kInvalidInput);
}

// The OS volume's label (status tells an attached-header OS volume by it):
// written as asked, read back, kept by a passphrase change and by a recovery
// key slot; none unless asked.
TEST_F(LuksTest, ALabelIsWrittenAndKeptByLaterKeySlotChanges) {
  LuksOptions options = Calibrated(Pbkdf::kPbkdf2);
  options.uuid = kUuid;
  options.label = "osencrypt";
  auto r = FormatLuksHeader(passphrase_, key_, options);
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto info = InspectLuksHeader(r->bytes);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->label, "osencrypt");
  if (!CryptsetupBinary().empty()) {
    int status = -1;
    const std::string dump = LuksDump(r->bytes, &status);
    EXPECT_EQ(status, 0) << dump;
    EXPECT_EQ(Field(dump, "Label:"), "osencrypt") << dump;
  }
  auto changed = ChangeLuksPassphrase(r->bytes, passphrase_, SecretOf("another"), options);
  ASSERT_TRUE(changed.ok()) << changed.error().message();
  auto with_recovery = AddLuksRecoveryKey(*changed, key_, SecretOf("a recovery key"), options);
  ASSERT_TRUE(with_recovery.ok()) << with_recovery.error().message();
  auto kept = InspectLuksHeader(*with_recovery);
  ASSERT_TRUE(kept.ok()) << kept.error().message();
  EXPECT_EQ(kept->label, "osencrypt");
  EXPECT_EQ(kept->key_slots.size(), 2u);

  auto plain = InspectLuksHeader(Header(Kind::kPbkdf2_4096).bytes);
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  EXPECT_EQ(plain->label, "");
}

TEST(RecoveryKey, IsSystemdsModhexForm) {
  auto a = GenerateRecoveryKey();
  auto b = GenerateRecoveryKey();
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string text(reinterpret_cast<const char*>(a->data()), a->size());
  ASSERT_EQ(text.size(), kRecoveryKeyChars);
  for (size_t i = 0; i < text.size(); ++i) {
    if (i % 9 == 8) {
      EXPECT_EQ(text[i], '-') << text;
    } else {
      EXPECT_NE(std::string("cbdefghijklnrtuv").find(text[i]), std::string::npos) << text;
    }
  }
  EXPECT_FALSE(a->Equals(b->span()));
}

TEST(RandomVolumeKey, IsAnXtsKeyWithDifferingHalves) {
  auto a = RandomVolumeKey();
  auto b = RandomVolumeKey();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), kLuksKeyBytes);
  EXPECT_FALSE(std::equal(a->data(), a->data() + 32, a->data() + 32));
  EXPECT_FALSE(a->Equals(b->span()));
}

// A recovery key slot is one more key slot with a systemd-recovery token,
// as systemd-cryptenroll --recovery-key leaves it: cryptsetup opens the
// volume with the formatted text, luksDump shows the token, and
// InspectLuksHeader names the slots and tokens without secrets.
TEST_F(LuksTest, ARecoveryKeyGetsASlotAndASystemdToken) {
  const LuksHeader& h = Header(Kind::kPbkdf2_4096);
  auto recovery = GenerateRecoveryKey();
  ASSERT_TRUE(recovery.ok());
  auto added = AddLuksRecoveryKey(h.bytes, key_, *recovery, Calibrated(Pbkdf::kPbkdf2));
  ASSERT_TRUE(added.ok()) << added.error().message();
  ASSERT_EQ(added->size(), h.bytes.size());
  const SecretBytes& rk = *recovery;
  for (const SecretBytes* p : {&passphrase_, &rk}) {
    auto opened = UnlockLuksHeader(*added, *p);
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    EXPECT_TRUE(opened->Equals(key_.span()));
  }
  int status = -1;
  const std::string dump = LuksDump(*added, &status);
  EXPECT_EQ(status, 0) << dump;
  EXPECT_NE(dump.find("systemd-recovery"), std::string::npos) << dump;
  auto info = InspectLuksHeader(*added);
  ASSERT_TRUE(info.ok()) << info.error().message();
  ASSERT_EQ(info->key_slots.size(), 2u);
  EXPECT_EQ(info->key_slots[0].slot, 0);
  EXPECT_EQ(info->key_slots[0].kind, "passphrase");
  EXPECT_EQ(info->key_slots[1].slot, 1);
  EXPECT_EQ(info->key_slots[1].kind, "recovery");
  ASSERT_EQ(info->tokens.size(), 1u);
  EXPECT_EQ(info->tokens[0].type, "systemd-recovery");
  EXPECT_EQ(info->tokens[0].keyslots, std::vector<int>{1});
  auto plain = InspectLuksHeader(h.bytes);
  ASSERT_TRUE(plain.ok());
  ASSERT_EQ(plain->key_slots.size(), 1u);
  EXPECT_TRUE(plain->tokens.empty());
  // The wrong volume key adds nothing.
  auto other = RandomVolumeKey();
  ASSERT_TRUE(other.ok());
  auto wrong = AddLuksRecoveryKey(h.bytes, *other, *recovery, Calibrated(Pbkdf::kPbkdf2));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind(), ErrorKind::kUsage);
}

// Sizing a header found on a disk: what libcryptsetup needs, from the binary
// header and the JSON; every malformed field named.
TEST_F(LuksTest, MetadataBytesFromTheHeaderItself) {
  const LuksHeader& h = Header(Kind::kPbkdf2_512);
  auto hdr = Luks2HdrSize("d", h.bytes);
  ASSERT_TRUE(hdr.ok()) << hdr.error().message();
  EXPECT_EQ(*hdr, 16384u);
  auto total = Luks2MetadataBytes("d", h.bytes);
  ASSERT_TRUE(total.ok()) << total.error().message();
  EXPECT_GT(*total, 2 * 16384u);
  EXPECT_LE(*total, h.bytes.size());  // within the 16 MiB before the data segment
  auto opened = UnlockLuksHeader(std::vector<uint8_t>(h.bytes.begin(), h.bytes.begin() + *total), passphrase_);
  EXPECT_TRUE(opened.ok()) << opened.error().message();

  EXPECT_EQ(*Luks2HdrSize("d", std::vector<uint8_t>(4096, 0)), 0u);  // no signature: not LUKS
  struct Case {
    size_t offset;
    std::vector<uint8_t> bytes;
    std::string message;
  };
  const std::vector<Case> cases = {
      {6, {0, 1}, "d: LUKS version (offset 6) 1, expected 2"},
      {8, {0, 0, 0, 0, 0, 0, 0x30, 0}, "d: LUKS2 hdr_size (offset 8) 12288 is not a power of two"},
      {8, {0, 0, 0, 0, 0x10, 0, 0, 0}, "d: LUKS2 hdr_size (offset 8) 268435456 is not a power of two"},
      {4096, {'[', ']', 0}, "d: the LUKS2 JSON area (offset 4096) is not a JSON object"},
      {4096, {'{', '}', 0}, "d: LUKS2 JSON (offset 4096) has no config.keyslots_size"},
      {4096, {'{', '"', 'x', 0}, "d: the LUKS2 JSON area (offset 4096) is not a JSON object"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> bad(h.bytes.begin(), h.bytes.begin() + 16384);
    std::copy(c.bytes.begin(), c.bytes.end(), bad.begin() + static_cast<long>(c.offset));
    auto r = Luks2MetadataBytes("d", bad);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(r.error().message().find(c.message), std::string::npos) << r.error().message();
  }
  // keyslots_size that is not a number, or too large.
  for (const std::string& value : {std::string("\"12ab\""), std::string("\"999999999999\"")}) {
    std::vector<uint8_t> bad(16384, 0);
    std::copy(h.bytes.begin(), h.bytes.begin() + 4096, bad.begin());
    const std::string json = "{\"config\":{\"keyslots_size\":" + value + "}}";
    std::copy(json.begin(), json.end(), bad.begin() + 4096);
    auto r = Luks2MetadataBytes("d", bad);
    ASSERT_FALSE(r.ok()) << value;
    EXPECT_NE(r.error().message().find("config.keyslots_size"), std::string::npos) << r.error().message();
  }
  EXPECT_FALSE(Luks2MetadataBytes("d", std::vector<uint8_t>(h.bytes.begin(), h.bytes.begin() + 8192)).ok());
}

// --- Headers other tools made ------------------------------------------------

// A LUKS1 header as cryptsetup luksFormat --type luks1 makes one (512-bit
// aes-xts-plain64, one key slot), in a file of `size` bytes.
std::vector<uint8_t> Luks1Header(const testing::TempDir& dir, const SecretBytes& key, const std::string& pass) {
  const std::string path = dir / "luks1.img";
  { std::ofstream(path).flush(); }
  EXPECT_EQ(::truncate(path.c_str(), 4u << 20), 0);
  crypt_device* cd = nullptr;
  EXPECT_EQ(crypt_init(&cd, path.c_str()), 0);
  crypt_pbkdf_type pbkdf = {CRYPT_KDF_PBKDF2, "sha256", 0, 1000, 0, 0, CRYPT_PBKDF_NO_BENCHMARK};
  EXPECT_EQ(crypt_set_pbkdf_type(cd, &pbkdf), 0);
  EXPECT_EQ(crypt_format(cd, CRYPT_LUKS1, "aes", "xts-plain64", nullptr, reinterpret_cast<const char*>(key.data()),
                         key.size(), nullptr),
            0);
  EXPECT_EQ(crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, reinterpret_cast<const char*>(key.data()), key.size(),
                                            pass.data(), pass.size()),
            0);
  crypt_free(cd);
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The LUKS2 checksum of one header copy (binary header and JSON area,
// hdr_size bytes, with the 64-byte csum field at 448 zeroed): SHA-256.
void Rechecksum(std::vector<uint8_t>& bytes, size_t at, size_t hdr_size) {
  std::fill(bytes.begin() + static_cast<long>(at + 448), bytes.begin() + static_cast<long>(at + 512), 0);
  unsigned int n = 0;
  ASSERT_EQ(EVP_Digest(bytes.data() + at, hdr_size, bytes.data() + at + 448, &n, EVP_sha256(), nullptr), 1);
}

// Both copies' JSON areas edited by `edit`, and their checksums made right.
std::vector<uint8_t> EditLuks2Json(std::vector<uint8_t> bytes, const std::function<void(nlohmann::json&)>& edit) {
  const size_t hdr_size = 16384;
  for (size_t at : {size_t{0}, hdr_size}) {
    const char* text = reinterpret_cast<const char*>(bytes.data()) + at + 4096;
    auto j = nlohmann::json::parse(text, text + ::strnlen(text, hdr_size - 4096));
    edit(j);
    const std::string out = j.dump();
    EXPECT_LT(out.size(), hdr_size - 4096);
    std::fill(bytes.begin() + static_cast<long>(at + 4096), bytes.begin() + static_cast<long>(at + hdr_size), 0);
    std::copy(out.begin(), out.end(), bytes.begin() + static_cast<long>(at + 4096));
    Rechecksum(bytes, at, hdr_size);
  }
  return bytes;
}

// `status` failed whole (exit 3, no JSON) on a LUKS1 volume another tool made:
// now its header is sized and described.
TEST_F(LuksTest, Luks1HeadersAreSizedAndDescribed) {
  testing::TempDir dir;
  const std::vector<uint8_t> disk = Luks1Header(dir, key_, "luks1 pass");
  auto bytes = Luks1HeaderBytes("d", std::span(disk).first(4096));
  ASSERT_TRUE(bytes.ok()) << bytes.error().message();
  EXPECT_EQ(*bytes, 4096u * 512);  // the payload offset cryptsetup chose: 2 MiB
  auto info = InspectLuksHeader(std::vector<uint8_t>(disk.begin(), disk.begin() + static_cast<long>(*bytes)));
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->version, 1);
  EXPECT_EQ(info->cipher, "aes-xts-plain64");
  EXPECT_EQ(info->key_bits, 512u);
  EXPECT_EQ(info->data_offset, 4096u * 512);
  EXPECT_FALSE(info->reencrypting);
  EXPECT_FALSE(info->unknown_requirements);
  // Unlocking is LUKS2's only: a clear refusal, not a crash.
  auto unlocked = UnlockLuksVolume(std::vector<uint8_t>(disk.begin(), disk.begin() + static_cast<long>(*bytes)),
                                   SecretOf("luks1 pass"));
  ASSERT_FALSE(unlocked.ok());
  EXPECT_EQ(unlocked.error().kind(), ErrorKind::kInvalidInput);

  struct Case {
    size_t offset;
    std::vector<uint8_t> bytes;
    std::string message;
  };
  const std::vector<Case> cases = {
      {6, {0, 3}, "d: LUKS version (offset 6) 3, expected 1"},
      {108, {0, 0, 0, 0}, "d: LUKS1 key-bytes (offset 108) 0 is not 1 to 512"},
      {104, {0x7f, 0xff, 0xff, 0xff}, "d: LUKS1 header of 1099511627264 bytes: not from 592 bytes to 16 MiB"},
      {208 + 44, {0x00, 0x10, 0x00, 0x01}, "d: LUKS1 key slot 0 has 1048577 stripes"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> bad(disk.begin(), disk.begin() + 4096);
    std::copy(c.bytes.begin(), c.bytes.end(), bad.begin() + static_cast<long>(c.offset));
    auto r = Luks1HeaderBytes("d", bad);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.error().message(), c.message);
  }
  EXPECT_FALSE(Luks1HeaderBytes("d", std::span(disk).first(100)).ok());
}

// Requirement flags libcryptsetup does not know: reported as such, not as an
// encryption in progress (every state but NONE was taken for one).
TEST_F(LuksTest, UnknownRequirementFlagsAreReportedAsSuch) {
  const LuksHeader& h = Header(Kind::kPbkdf2_512);
  auto edited = EditLuks2Json(h.bytes, [](nlohmann::json& j) {
    j["config"]["requirements"] = {{"mandatory", {"frobnicate-v9"}}};
  });
  auto info = InspectLuksHeader(edited);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->version, 2);
  EXPECT_TRUE(info->unknown_requirements);
  EXPECT_FALSE(info->reencrypting);
  auto plain = InspectLuksHeader(h.bytes);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->unknown_requirements);
}

// A damaged primary header whose secondary copy is whole: cryptsetup opens
// it, and so is it sized (from the secondary) and read.
TEST_F(LuksTest, ADamagedPrimaryIsReadFromTheSecondaryCopy) {
  const LuksHeader& h = Header(Kind::kPbkdf2_512);
  auto whole = Luks2MetadataBytes("d", h.bytes);
  ASSERT_TRUE(whole.ok());
  std::vector<uint8_t> damaged = h.bytes;
  std::fill(damaged.begin(), damaged.begin() + 8192, 0xEE);  // signature and JSON gone
  EXPECT_EQ(*Luks2HdrSize("d", damaged), 0u);
  const std::span<const uint8_t> secondary = std::span(damaged).subspan(16384, 16384);
  auto hdr = Luks2HdrSize("d", secondary);
  ASSERT_TRUE(hdr.ok());
  EXPECT_EQ(*hdr, 16384u);  // the secondary's hdr_size is its own offset
  auto from_secondary = Luks2MetadataBytes("d", secondary);
  ASSERT_TRUE(from_secondary.ok()) << from_secondary.error().message();
  EXPECT_EQ(*from_secondary, *whole);
  auto info = InspectLuksHeader(damaged);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->uuid, kUuid);
  auto opened = UnlockLuksHeader(damaged, passphrase_);
  EXPECT_TRUE(opened.ok()) << opened.error().message();
}

}  // namespace
}  // namespace vhdcrypt

namespace vhdcrypt {
namespace {

// The key slot and token reader takes whatever JSON a header holds: members
// of unexpected types and out-of-range numbers are skipped, never thrown on.
TEST(KeySlotsAndTokensFromJson, SkipsWhatIsNotAKeySlotOrToken) {
  LuksInfo info;
  KeySlotsAndTokensFromJson(
      R"({"keyslots":{"2":{},"0":{},"1234":{},"x":{},"3":[]},)"
      R"("tokens":{"1":{"type":"systemd-recovery","keyslots":["2","9999",7]},"0":{"type":"clevis","keyslots":["0"]},)"
      R"("2":{"type":5},"3":"text","-1":{"type":"t"}}})",
      info);
  ASSERT_EQ(info.key_slots.size(), 2u);
  EXPECT_EQ(info.key_slots[0].slot, 0);
  EXPECT_EQ(info.key_slots[0].kind, "clevis");
  EXPECT_EQ(info.key_slots[1].slot, 2);
  EXPECT_EQ(info.key_slots[1].kind, "recovery");
  ASSERT_EQ(info.tokens.size(), 2u);
  EXPECT_EQ(info.tokens[0].id, 0);
  EXPECT_EQ(info.tokens[1].type, "systemd-recovery");
  EXPECT_EQ(info.tokens[1].keyslots, std::vector<int>{2});
  for (const char* bad :
       {"", "[]", "null", "{\"keyslots\":[1,2]}", "{\"tokens\":7}", "{\"keyslots\":{\"0\":{}}", "\xff\xfe"}) {
    LuksInfo none;
    none.key_slots.push_back({9, "stale"});
    KeySlotsAndTokensFromJson(bad, none);
    EXPECT_TRUE(none.key_slots.empty()) << bad;
    EXPECT_TRUE(none.tokens.empty()) << bad;
  }
}

}  // namespace
}  // namespace vhdcrypt
