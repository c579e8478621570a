// encrypt, stage 2: the key outputs (encrypt_stages.h).
#include "src/commands/encrypt_stages.h"
#include "src/crypto/kek.h"
#include "src/crypto/luks.h"
#include "src/guest/key_volume.h"
#include "src/outdir/names.h"

namespace vhdcrypt::encrypt {

Result<Secrets> ReadOrMakeSecrets(const EncryptCommandOptions& o) {
  Secrets s;
  if (!o.key_file.empty()) {
    ASSIGN_OR_RETURN(s.passphrase, ReadKeyFile(o.key_file));
  } else {
    ASSIGN_OR_RETURN(s.passphrase, GeneratePassphrase());
  }
  if (!o.kek.empty()) {
    ASSIGN_OR_RETURN(s.wrapped, WrapPassphrase(o.kek, o.kek_alg, s.passphrase.span()));
  }
  if (o.recovery_key) {
    ASSIGN_OR_RETURN(s.recovery, GenerateRecoveryKey());
  }
  return s;
}

Result<KeyOutputs> CreateKeyOutputs(const EncryptCommandOptions& o, const SecretBytes& passphrase,
                                    const std::vector<uint8_t>& wrapped, const SecretBytes& recovery,
                                    bool with_key_volume) {
  const std::string& dir = o.output_dir;
  KeyOutputs k;
  // A generated passphrase is written in plaintext unless --kek wraps it:
  // then only the KEK's private half opens passphrase.wrapped, and a
  // plaintext copy beside it is written only when asked for. A --key-file
  // passphrase is the user's already and is never copied.
  if (o.key_file.empty() && (o.kek.empty() || o.write_passphrase)) {
    ASSIGN_OR_RETURN(k.passphrase, OutputFile::Create(dir + "/passphrase", o.force, "", OutputMode::kSecret));
    RETURN_IF_ERROR(WriteFull(k.passphrase->file(), 0, passphrase.span()));
  }
  if (!o.kek.empty()) {
    ASSIGN_OR_RETURN(k.wrapped,
                     OutputFile::Create(dir + "/" + kWrappedPassphraseName, o.force, "", OutputMode::kSecret));
    RETURN_IF_ERROR(WriteFull(k.wrapped->file(), 0, wrapped));
  }
  // The Key Vault secret for what was written: the wrapped passphrase when
  // there is one (the plaintext never goes to Key Vault then), else the
  // generated passphrase.
  if (k.passphrase || k.wrapped) {
    ASSIGN_OR_RETURN(SecretBytes secret_json, k.wrapped ? KeyVaultSecretJsonWrapped(wrapped, o.kek_alg, o.kek_url)
                                                        : KeyVaultSecretJson(passphrase.span()));
    ASSIGN_OR_RETURN(k.secret, OutputFile::Create(dir + "/" + kKeyVaultSecretName, o.force, "", OutputMode::kSecret));
    RETURN_IF_ERROR(WriteFull(k.secret->file(), 0, secret_json.span()));
  }
  // The recovery key is never printed: this file is the only copy.
  if (!recovery.empty()) {
    ASSIGN_OR_RETURN(k.recovery, OutputFile::Create(dir + "/" + kRecoveryKeyName, o.force, "", OutputMode::kSecret));
    RETURN_IF_ERROR(WriteFull(k.recovery->file(), 0, recovery.span()));
  }
  // The key volume: where the guest's unlock code (and Azure's convention)
  // finds the passphrase at boot.
  if (with_key_volume) {
    ASSIGN_OR_RETURN(k.key_volume, CreateKeyVolume(dir, o.force));
  }
  return k;
}

std::vector<OutputFile*> KeyOutputs::Files() const {
  std::vector<OutputFile*> files;
  for (const auto* out : {&passphrase, &wrapped, &secret, &recovery, &key_volume}) {
    if (*out) files.push_back(out->get());
  }
  return files;
}

std::string KeyOutputs::Describe(const EncryptCommandOptions& o) const {
  const std::string& dir = o.output_dir;
  std::string text;
  if (passphrase) text += "; passphrase in " + dir + "/passphrase (mode 0600)";
  if (wrapped) {
    text +=
        std::string("; passphrase wrapped with ") + KekAlgName(o.kek_alg) + " in " + dir + "/" + kWrappedPassphraseName;
  }
  if (secret) text += "; Key Vault secret in " + dir + "/" + kKeyVaultSecretName;
  if (recovery) text += "; recovery key in " + dir + "/" + kRecoveryKeyName + " (mode 0600)";
  if (key_volume) text += "; key volume " + dir + "/" + kKeyVolumeName;
  return text;
}

}  // namespace vhdcrypt::encrypt
