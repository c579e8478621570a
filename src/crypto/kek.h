// The passphrase wrapped with a key encryption key (KEK): RSA-OAEP with the
// public half of an RSA key, as Azure Key Vault's wrapKey computes it, so that
// the private half (in Key Vault, or offline) is the only way back to the
// passphrase. And keyvault-secret.json: the passphrase, or its wrapped form,
// as the body of Key Vault's Set Secret request with the tags Azure Disk
// Encryption puts on its secrets. Nothing here logs a secret.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "src/crypto/secret.h"

namespace vhdcrypt {

// Key Vault's names for the two OAEP variants ADE accepts (RSA1_5 is left
// out: PKCS#1 v1.5 encryption is not offered for new secrets).
enum class KekAlg {
  kRsaOaep,     // "RSA-OAEP": OAEP with SHA-1, MGF1 with SHA-1
  kRsaOaep256,  // "RSA-OAEP-256": OAEP with SHA-256, MGF1 with SHA-256
};

// "RSA-OAEP" or "RSA-OAEP-256", exactly as Key Vault spells them.
const char* KekAlgName(KekAlg alg);

// The name ADE gives the passphrase file on its key volume, and the value of
// the DiskEncryptionKeyFileName tag on its Key Vault secrets.
constexpr char kKeyFileName[] = "LinuxPassPhraseFileName";

// Outputs in the encrypt output directory.
constexpr char kWrappedPassphraseName[] = "passphrase.wrapped";
constexpr char kKeyVaultSecretName[] = "keyvault-secret.json";

// Smaller RSA keys are refused: Key Vault itself makes keys of 2048 bits or more.
constexpr int kMinKekBits = 2048;

// Encrypts `passphrase` with the RSA public key in the PEM file `pem_path`
// ("PUBLIC KEY" SubjectPublicKeyInfo, or "RSA PUBLIC KEY" PKCS#1). Refuses a
// missing or unreadable file (kUsage), a file that holds no public key (a
// private key included: the public half is all this needs), a key
// that is not RSA or has fewer than kMinKekBits bits (kInvalidInput, naming
// the file and the key), and a passphrase longer than one OAEP block of that
// key can carry (kUsage). Returns the ciphertext, as long as the modulus.
Result<std::vector<uint8_t>> WrapPassphrase(const std::string& pem_path, KekAlg alg,
                                            std::span<const uint8_t> passphrase);

// keyvault-secret.json for a secret that is the passphrase itself: "value" is
// its standard base64 (as ADE's [Convert]::ToBase64String / b64encode), and
// the tag DiskEncryptionKeyFileName is LinuxPassPhraseFileName. Held in a
// SecretBytes, since the value is the passphrase in another spelling.
Result<SecretBytes> KeyVaultSecretJson(std::span<const uint8_t> passphrase);

// keyvault-secret.json for the wrapped passphrase: "value" is base64url
// without padding, the form Key Vault's wrapKey returns and ADE stores as the
// secret; the tags add DiskEncryptionKeyEncryptionAlgorithm and, when kek_url
// is not empty, DiskEncryptionKeyEncryptionKeyURL.
Result<SecretBytes> KeyVaultSecretJsonWrapped(std::span<const uint8_t> wrapped, KekAlg alg, const std::string& kek_url);

}  // namespace vhdcrypt
