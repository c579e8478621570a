#include "src/crypto/kek.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/json.h"

namespace vhdcrypt {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct DecoderCtxFree {
  void operator()(OSSL_DECODER_CTX* p) const { OSSL_DECODER_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// A PEM public key is a few KiB at most (16384-bit RSA: about 3 KiB).
constexpr size_t kMaxPemBytes = 64 * 1024;

// The PEM file's bytes. Not secret: it holds a public key.
Result<std::string> ReadPem(const std::string& path) {
  // O_NONBLOCK: a FIFO is refused below instead of blocking open().
  struct Fd {
    int fd;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  } f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  const int fd = f.fd;
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return UsageError(path + ": does not exist");
    return UsageError(path + ": cannot open: " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError(path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return UsageError(path + ": is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxPemBytes) {
    return InvalidInput(path + ": is " + std::to_string(st.st_size) + " bytes, too large for a PEM public key");
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(path + ": read failed: " + std::strerror(errno));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return text;
}

// The public key in a PEM file, whatever its type; OpenSSL's decoders take
// "PUBLIC KEY" (SubjectPublicKeyInfo) and "RSA PUBLIC KEY" (PKCS#1) alike.
Result<Pkey> LoadPublicKey(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadPem(path));
  EVP_PKEY* raw = nullptr;
  std::unique_ptr<OSSL_DECODER_CTX, DecoderCtxFree> dctx(
      OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  if (!dctx) return IoError("OpenSSL cannot make a PEM decoder");
  const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  size_t len = pem.size();
  const int ok = OSSL_DECODER_from_data(dctx.get(), &data, &len);
  ERR_clear_error();  // the decoders that did not match leave their complaints
  Pkey key(raw);
  if (ok != 1 || !key) {
    // A private key is not decoded as a public one; say so, since the fix is
    // to hand over less, not something else.
    if (pem.find("PRIVATE KEY-----") != std::string::npos) {
      return InvalidInput(path + ": holds a private key; --kek takes the public key only (openssl pkey -in " + path +
                          " -pubout)");
    }
    return InvalidInput(path +
                        ": holds no PEM public key (expected \"-----BEGIN PUBLIC KEY-----\" or "
                        "\"-----BEGIN RSA PUBLIC KEY-----\")");
  }
  return key;
}

// OAEP's digest, used for MGF1 as well (Key Vault's definitions of both
// algorithms).
const char* DigestName(KekAlg alg) { return alg == KekAlg::kRsaOaep256 ? "SHA256" : "SHA1"; }
size_t DigestBytes(KekAlg alg) { return alg == KekAlg::kRsaOaep256 ? 32 : 20; }

// Standard base64 (RFC 4648 section 4), or base64url without padding
// (section 5, as JOSE and Key Vault write binary values), into a SecretBytes
// since the input may be the passphrase.
Result<SecretBytes> Base64(std::span<const uint8_t> in, bool url) {
  if (in.size() > static_cast<size_t>(INT_MAX / 4 * 3 - 3)) return UsageError("value too large to encode");
  const size_t chars = 4 * ((in.size() + 2) / 3);
  SecretBytes out(chars + 1);  // EVP_EncodeBlock writes a NUL after the text
  const int n = EVP_EncodeBlock(out.data(), in.data(), static_cast<int>(in.size()));
  if (n != static_cast<int>(chars)) return IoError("base64 encoding failed");
  size_t size = chars;
  if (url) {
    for (size_t i = 0; i < size; ++i) {
      if (out.data()[i] == '+') out.data()[i] = '-';
      if (out.data()[i] == '/') out.data()[i] = '_';
    }
    while (size > 0 && out.data()[size - 1] == '=') --size;
  }
  out.Truncate(size);
  return out;
}

// The file's text with "value" spliced in as the first member. The value
// never passes through nlohmann::json or a std::string, whose copies and
// reallocations would leave it in freed heap memory; base64 and base64url
// need no JSON escaping, so it is copied as it is.
Result<SecretBytes> ComposeSecretJson(const SecretBytes& value, const nlohmann::ordered_json& rest) {
  const std::string tail = JsonText(rest, 2);  // "{\n  \"attributes\": ...\n}"; holds no secret
  const std::string head = "{\n  \"value\": \"";
  const std::string mid = "\",\n";
  const std::string body = tail.substr(2) + "\n";
  SecretBytes out(head.size() + value.size() + mid.size() + body.size());
  uint8_t* p = out.data();
  for (std::span<const uint8_t> part :
       {std::span(reinterpret_cast<const uint8_t*>(head.data()), head.size()), value.span(),
        std::span(reinterpret_cast<const uint8_t*>(mid.data()), mid.size()),
        std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size())}) {
    std::memcpy(p, part.data(), part.size());
    p += part.size();
  }
  return out;
}

// What ADE's create_secret sends besides the value: the secret enabled, and
// the key file name the platform gives the passphrase on the key volume.
nlohmann::ordered_json SecretRest() {
  nlohmann::ordered_json j;
  j["attributes"] = {{"enabled", true}};
  j["tags"] = {{"DiskEncryptionKeyFileName", kKeyFileName}};
  return j;
}

}  // namespace

const char* KekAlgName(KekAlg alg) { return alg == KekAlg::kRsaOaep256 ? "RSA-OAEP-256" : "RSA-OAEP"; }

Result<std::vector<uint8_t>> WrapPassphrase(const std::string& pem_path, KekAlg alg,
                                            std::span<const uint8_t> passphrase) {
  ASSIGN_OR_RETURN(Pkey key, LoadPublicKey(pem_path));
  const int bits = EVP_PKEY_get_bits(key.get());
  if (!EVP_PKEY_is_a(key.get(), "RSA")) {
    const char* type = EVP_PKEY_get0_type_name(key.get());
    return InvalidInput(pem_path + ": holds a " + std::to_string(bits) + "-bit " + (type ? type : "non-RSA") +
                        " key; --kek needs an RSA public key of at least " + std::to_string(kMinKekBits) + " bits");
  }
  if (bits < kMinKekBits) {
    return InvalidInput(pem_path + ": holds a " + std::to_string(bits) + "-bit RSA key; --kek needs at least " +
                        std::to_string(kMinKekBits) + " bits");
  }
  // One OAEP block: the modulus less two digests and two bytes (RFC 8017 7.1.1).
  const size_t modulus = static_cast<size_t>(EVP_PKEY_get_size(key.get()));
  const size_t room = modulus - 2 * DigestBytes(alg) - 2;
  if (passphrase.size() > room) {
    return UsageError("the passphrase is " + std::to_string(passphrase.size()) + " bytes; " + KekAlgName(alg) +
                      " with the " + std::to_string(bits) + "-bit key in " + pem_path + " wraps at most " +
                      std::to_string(room) + " bytes");
  }
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx.get(), DigestName(alg), nullptr) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx.get(), DigestName(alg), nullptr) <= 0) {
    ERR_clear_error();
    return IoError(pem_path + ": OpenSSL cannot set up " + KekAlgName(alg) + " encryption");
  }
  size_t size = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &size, passphrase.data(), passphrase.size()) <= 0) {
    ERR_clear_error();
    return IoError(pem_path + ": " + KekAlgName(alg) + " encryption failed");
  }
  std::vector<uint8_t> wrapped(size);
  if (EVP_PKEY_encrypt(ctx.get(), wrapped.data(), &size, passphrase.data(), passphrase.size()) <= 0) {
    ERR_clear_error();
    return IoError(pem_path + ": " + KekAlgName(alg) + " encryption failed");
  }
  wrapped.resize(size);
  return wrapped;
}

Result<SecretBytes> KeyVaultSecretJson(std::span<const uint8_t> passphrase) {
  ASSIGN_OR_RETURN(SecretBytes value, Base64(passphrase, /*url=*/false));
  return ComposeSecretJson(value, SecretRest());
}

Result<SecretBytes> KeyVaultSecretJsonWrapped(std::span<const uint8_t> wrapped, KekAlg alg,
                                              const std::string& kek_url) {
  ASSIGN_OR_RETURN(SecretBytes value, Base64(wrapped, /*url=*/true));
  nlohmann::ordered_json rest = SecretRest();
  rest["tags"]["DiskEncryptionKeyEncryptionAlgorithm"] = KekAlgName(alg);
  if (!kek_url.empty()) rest["tags"]["DiskEncryptionKeyEncryptionKeyURL"] = kek_url;
  return ComposeSecretJson(value, rest);
}

}  // namespace vhdcrypt
