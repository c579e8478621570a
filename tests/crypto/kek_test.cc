#include "src/crypto/kek.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::span<const uint8_t> Bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
std::string Text(std::span<const uint8_t> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

Pkey Rsa(size_t bits) { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits)); }

// The public half as PEM: "PUBLIC KEY" (SubjectPublicKeyInfo), or with
// pkcs1 "RSA PUBLIC KEY".
std::string PublicPem(EVP_PKEY* key, bool pkcs1 = false) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (pkcs1) {
    OSSL_ENCODER_CTX* ectx = OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", nullptr);
    EXPECT_NE(ectx, nullptr);
    EXPECT_EQ(OSSL_ENCODER_to_bio(ectx, bio.get()), 1);
    OSSL_ENCODER_CTX_free(ectx);
  } else {
    EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), key), 1);
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string WritePem(const testing::TempDir& dir, const std::string& name, const std::string& pem) {
  const std::string path = dir / name;
  std::ofstream(path, std::ios::binary) << pem;
  return path;
}

// What the KEK's owner (Key Vault's unwrapKey, or openssl pkeyutl) does.
std::vector<uint8_t> Unwrap(EVP_PKEY* key, KekAlg alg, std::span<const uint8_t> wrapped) {
  const char* md = alg == KekAlg::kRsaOaep256 ? "SHA256" : "SHA1";
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr),
                                                                  EVP_PKEY_CTX_free);
  EXPECT_EQ(EVP_PKEY_decrypt_init(ctx.get()), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx.get(), md, nullptr), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx.get(), md, nullptr), 1);
  size_t size = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &size, wrapped.data(), wrapped.size()) != 1) return {};
  std::vector<uint8_t> out(size);
  if (EVP_PKEY_decrypt(ctx.get(), out.data(), &size, wrapped.data(), wrapped.size()) != 1) return {};
  out.resize(size);
  return out;
}

// Standard base64, or base64url without padding.
std::vector<uint8_t> Base64Decode(std::string text, bool url) {
  if (url) {
    for (char& c : text) {
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
    while (text.size() % 4 != 0) text += '=';
  }
  std::vector<uint8_t> out(text.size() / 4 * 3);
  const int n =
      EVP_DecodeBlock(out.data(), reinterpret_cast<const uint8_t*>(text.data()), static_cast<int>(text.size()));
  EXPECT_GE(n, 0) << text;
  size_t pad = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

class KekTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { key_ = Rsa(2048).release(); }
  static void TearDownTestSuite() { EVP_PKEY_free(key_); }
  static EVP_PKEY* key_;
  testing::TempDir dir_;
};
EVP_PKEY* KekTest::key_ = nullptr;

TEST_F(KekTest, WrapsWithBothAlgorithmsAndEitherPemForm) {
  ASSERT_NE(key_, nullptr);
  const std::string pass = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH";  // 44 bytes
  for (bool pkcs1 : {false, true}) {
    const std::string pem = WritePem(dir_, pkcs1 ? "pkcs1.pem" : "spki.pem", PublicPem(key_, pkcs1));
    ASSERT_NE(ReadText(pem).find(pkcs1 ? "BEGIN RSA PUBLIC KEY" : "BEGIN PUBLIC KEY"), std::string::npos);
    for (KekAlg alg : {KekAlg::kRsaOaep, KekAlg::kRsaOaep256}) {
      auto wrapped = WrapPassphrase(pem, alg, Bytes(pass));
      ASSERT_TRUE(wrapped.ok()) << wrapped.error().message();
      EXPECT_EQ(wrapped->size(), 256u);
      EXPECT_EQ(Text(Unwrap(key_, alg, *wrapped)), pass) << KekAlgName(alg);
      // The other algorithm's digests do not open it: the names are not aliases.
      const KekAlg other = alg == KekAlg::kRsaOaep ? KekAlg::kRsaOaep256 : KekAlg::kRsaOaep;
      EXPECT_TRUE(Unwrap(key_, other, *wrapped).empty());
      // OAEP is randomised: the same passphrase wraps differently each time.
      auto again = WrapPassphrase(pem, alg, Bytes(pass));
      ASSERT_TRUE(again.ok());
      EXPECT_NE(*again, *wrapped);
    }
  }
}

TEST_F(KekTest, PassphraseMustFitOneOaepBlock) {
  const std::string pem = WritePem(dir_, "k.pem", PublicPem(key_));
  // 2048 bits: 256 - 2*20 - 2 = 214 bytes with SHA-1, 256 - 2*32 - 2 = 190 with SHA-256.
  EXPECT_TRUE(WrapPassphrase(pem, KekAlg::kRsaOaep, Bytes(std::string(214, 'p'))).ok());
  EXPECT_TRUE(WrapPassphrase(pem, KekAlg::kRsaOaep256, Bytes(std::string(190, 'p'))).ok());
  auto r = WrapPassphrase(pem, KekAlg::kRsaOaep256, Bytes(std::string(191, 'p')));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kUsage);
  EXPECT_NE(r.error().message().find("at most 190 bytes"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("ppp"), std::string::npos);
}

TEST_F(KekTest, RefusesASmallRsaKeyNamingFileAndBits) {
  Pkey small = Rsa(1024);
  ASSERT_TRUE(small);
  const std::string pem = WritePem(dir_, "small.pem", PublicPem(small.get()));
  auto r = WrapPassphrase(pem, KekAlg::kRsaOaep, Bytes("secret"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(r.error().message().find(pem + ": holds a 1024-bit RSA key"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("2048"), std::string::npos);
}

TEST_F(KekTest, RefusesAnEcKey) {
  Pkey ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  ASSERT_TRUE(ec);
  const std::string pem = WritePem(dir_, "ec.pem", PublicPem(ec.get()));
  auto r = WrapPassphrase(pem, KekAlg::kRsaOaep, Bytes("secret"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(r.error().message().find(pem + ": holds a 256-bit EC key"), std::string::npos) << r.error().message();
}

TEST_F(KekTest, RefusesGarbagePrivateEmptyAndMissingFiles) {
  for (const std::string& content : {std::string("not a key\n"), std::string(),
                                     std::string("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")}) {
    const std::string pem = WritePem(dir_, "bad.pem", content);
    auto r = WrapPassphrase(pem, KekAlg::kRsaOaep, Bytes("secret"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(r.error().message().find(pem + ": holds no PEM public key"), std::string::npos) << r.error().message();
  }
  {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    ASSERT_EQ(PEM_write_bio_PrivateKey(bio.get(), key_, nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    const std::string pem = WritePem(dir_, "private.pem", std::string(data, static_cast<size_t>(n)));
    auto r = WrapPassphrase(pem, KekAlg::kRsaOaep, Bytes("secret"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(r.error().message().find(pem + ": holds a private key"), std::string::npos) << r.error().message();
  }
  auto missing = WrapPassphrase(dir_ / "missing.pem", KekAlg::kRsaOaep, Bytes("secret"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kUsage);
  EXPECT_NE(missing.error().message().find("missing.pem: does not exist"), std::string::npos);
  auto directory = WrapPassphrase(dir_.path(), KekAlg::kRsaOaep, Bytes("secret"));
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().kind(), ErrorKind::kUsage);
}

TEST(KekAlg, NamesAsKeyVault) {
  EXPECT_STREQ(KekAlgName(KekAlg::kRsaOaep), "RSA-OAEP");
  EXPECT_STREQ(KekAlgName(KekAlg::kRsaOaep256), "RSA-OAEP-256");
}

TEST(KeyVaultSecret, PlainPassphraseIsStandardBase64WithTheKeyFileTag) {
  const std::string pass = "a+b/c?";  // base64 "YStiL2M/": '/' shows the standard alphabet
  auto json = KeyVaultSecretJson(Bytes(pass));
  ASSERT_TRUE(json.ok());
  const std::string text = Text(json->span());
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["value"], "YStiL2M/");
  EXPECT_EQ(Text(Base64Decode(j["value"], false)), pass);
  EXPECT_EQ(j["attributes"], nlohmann::json({{"enabled", true}}));
  EXPECT_EQ(j["tags"], nlohmann::json({{"DiskEncryptionKeyFileName", "LinuxPassPhraseFileName"}}));
  EXPECT_FALSE(j.contains("contentType"));
  EXPECT_EQ(text.rfind("{\n  \"value\": \"", 0), 0u) << text;
  EXPECT_EQ(text.back(), '\n');
}

TEST(KeyVaultSecret, WrappedIsBase64UrlWithAlgorithmAndUrlTags) {
  std::vector<uint8_t> wrapped(256);
  for (size_t i = 0; i < wrapped.size(); ++i) wrapped[i] = static_cast<uint8_t>(i * 7 + 0xf8);
  const std::string url = "https://vault1.vault.azure.net/keys/kek/0123456789abcdef";
  auto json = KeyVaultSecretJsonWrapped(wrapped, KekAlg::kRsaOaep256, url);
  ASSERT_TRUE(json.ok());
  auto j = nlohmann::json::parse(Text(json->span()));
  const std::string value = j["value"];
  EXPECT_EQ(value.size(), 342u);  // 256 bytes, no '=' padding
  EXPECT_EQ(value.find_first_of("+/="), std::string::npos) << value;
  EXPECT_EQ(Base64Decode(value, true), wrapped);
  EXPECT_EQ(j["tags"], nlohmann::json({{"DiskEncryptionKeyFileName", "LinuxPassPhraseFileName"},
                                       {"DiskEncryptionKeyEncryptionAlgorithm", "RSA-OAEP-256"},
                                       {"DiskEncryptionKeyEncryptionKeyURL", url}}));
  auto no_url = KeyVaultSecretJsonWrapped(wrapped, KekAlg::kRsaOaep, "");
  ASSERT_TRUE(no_url.ok());
  auto k = nlohmann::json::parse(Text(no_url->span()));
  EXPECT_EQ(k["tags"], nlohmann::json({{"DiskEncryptionKeyFileName", "LinuxPassPhraseFileName"},
                                       {"DiskEncryptionKeyEncryptionAlgorithm", "RSA-OAEP"}}));
  // A URL with characters JSON must escape stays one valid string.
  auto odd = KeyVaultSecretJsonWrapped(wrapped, KekAlg::kRsaOaep, "https://v/keys/\"x\\");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(nlohmann::json::parse(Text(odd->span()))["tags"]["DiskEncryptionKeyEncryptionKeyURL"],
            "https://v/keys/\"x\\");
}

}  // namespace
}  // namespace vhdcrypt
