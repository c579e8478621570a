#include "src/cli/options.h"

#include <memory>

#include "src/cli/choice.h"
#include "src/commands/check.h"
#include "src/commands/convert.h"
#include "src/commands/decrypt.h"
#include "src/commands/deploy.h"
#include "src/commands/encrypt.h"
#include "src/commands/info.h"
#include "src/commands/rekey.h"
#include "src/commands/status.h"
#include "src/commands/verify.h"
#include "src/crypto/kek.h"

namespace vhdcrypt {
namespace {

// Choices named by the name functions of the layers that own the values.
template <typename T>
Choices<T> Named(std::initializer_list<T> values, const char* (*name)(T)) {
  Choices<T> choices;
  for (T v : values) choices.emplace_back(name(v), v);
  return choices;
}

const Choices<FormatHint> kFormats = Named({FormatHint::kAuto, FormatHint::kVhd, FormatHint::kRaw}, FormatHintName);
const Choices<ContainerKind> kContainers =
    Named({ContainerKind::kVhdFixed, ContainerKind::kVhdDynamic, ContainerKind::kRaw}, ContainerKindName);
const Choices<Policy> kPolicies = {{"azure", Policy::kAzure}, {"generic", Policy::kGeneric}};
const Choices<VolumeType> kVolumeTypes = {
    {"all", VolumeType::kAll}, {"os", VolumeType::kOs}, {"data", VolumeType::kData}};
const Choices<Pbkdf> kPbkdfs = Named({Pbkdf::kArgon2id, Pbkdf::kPbkdf2}, PbkdfName);
const Choices<KekAlg> kKekAlgs = Named({KekAlg::kRsaOaep, KekAlg::kRsaOaep256}, KekAlgName);
const Choices<ProgressMode> kProgressModes = {{"auto", ProgressMode::kAuto},
                                              {"plain", ProgressMode::kPlain},
                                              {"json", ProgressMode::kJson},
                                              {"none", ProgressMode::kNone}};
const Choices<HeaderPlacement> kHeaderPlacements =
    Named({HeaderPlacement::kDetached, HeaderPlacement::kAttached}, HeaderPlacementName);
const Choices<uint32_t> kSectorSizes = {{"auto", 0}, {"512", 512}, {"4096", 4096}};

constexpr char kProgressHelp[] = "auto (bar on a terminal), plain, json (lines on stdout), none";

// With -q, progress that would go to a terminal is not shown.
void QuietProgress(const GlobalOptions& global, ProgressMode& progress) {
  if (global.quiet && progress == ProgressMode::kAuto) progress = ProgressMode::kNone;
}

// "out/" -> "out", so that the paths made from it read "out/disk.vhd" ("/" stays).
void DropTrailingSlashes(std::string& dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
}

// cryptsetup's options for fixed key slot costs (no benchmark): for
// reproducible pipelines and for measuring the bulk work alone.
void AddPbkdfOptions(CLI::App* cmd, LuksOptions& luks) {
  AddChoice(cmd, "--pbkdf", luks.pbkdf, kPbkdfs, "Key slot PBKDF");
  cmd->add_option("--iter-time", luks.iter_time_ms, "PBKDF unlock time in milliseconds, as cryptsetup's")
      ->capture_default_str()
      ->check(CLI::Range(1u, 60000u));
  cmd->add_option("--pbkdf-force-iterations", luks.iterations,
                  "Fixed PBKDF cost, no benchmark (as cryptsetup's): pbkdf2 iterations (>= 1000) or argon2id time "
                  "cost (>= 4); --iter-time is then ignored");
  cmd->add_option("--pbkdf-memory", luks.memory_kb,
                  "argon2id memory cost in KiB with --pbkdf-force-iterations (default: the 131072 KiB cap)");
  cmd->add_option("--pbkdf-parallel", luks.parallel_threads,
                  "argon2id threads with --pbkdf-force-iterations (default 4)");
}

// Fills the argon2id defaults of a forced cost, then refuses what does not
// fit together, before any work starts.
Status FinishPbkdfCosts(LuksOptions& luks) {
  if (luks.iterations != 0 && luks.pbkdf == Pbkdf::kArgon2id) {
    if (luks.memory_kb == 0) luks.memory_kb = luks.max_memory_kb;
    if (luks.parallel_threads == 0) luks.parallel_threads = 4;
  }
  return CheckPbkdfOptions(luks);
}

// encrypt's options: what to encrypt and where the outputs go.
void AddEncryptTargetOptions(CLI::App* cmd, EncryptCommandOptions& o) {
  cmd->add_option("IMAGE", o.image,
                  "OS disk image (VHD or raw), opened read-only; a disk without an OS is encrypted whole")
      ->required();
  cmd->add_option("--data", o.data_disks, "A data disk image (repeatable, one per flag)")->allow_extra_args(false);
  cmd->add_option("--output-dir", o.output_dir,
                  "Directory for the new images, manifest.json and the key outputs (passphrase, "
                  "passphrase.wrapped, keyvault-secret.json); made (0700) when missing")
      ->required();
  AddChoice(cmd, "--volume-type", o.rules.volume_type, kVolumeTypes,
            "What to encrypt: data (filesystems other than /, /boot, swap), os (the root volume, unlocked at boot "
            "from the key volume), all");
  cmd->add_flag("--no-key-volume", o.no_key_volume,
                "Do not write DIR/bek.vhd, the key volume (vfat \"BEK VOLUME\") the guest unlocks from at boot");
  AddChoice(cmd, "--os-header", o.os_header, kHeaderPlacements,
            "Where the OS volume's LUKS2 header goes: detached (on /boot and in the initramfs, ADE's layout) or "
            "attached (in front of its data: the root partition grows by 16 MiB, later ones move; what "
            "systemd-cryptenroll and clevis need)");
  cmd->add_option("--boot-size", o.boot_size_mib,
                  "MiB of the new /boot partition made when / holds /boot and the OS volume is encrypted")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{512}, uint64_t{1} << 20));
}

// The options for the new passphrase and its KEK, of encrypt (`key_flag`
// --key-file, outputs in DIR) and deploy (--new-key-file, INSTANCE_DIR).
void AddEncryptKeyOptions(CLI::App* cmd, EncryptCommandOptions& o, const std::string& key_flag,
                          const std::string& dir) {
  cmd->add_option(
      key_flag, o.key_file,
      "Passphrase file (all its bytes are the passphrase); default: generate " + dir + "/passphrase (0600)");
  auto* kek =
      cmd->add_option("--kek", o.kek,
                      "RSA public key (PEM, 2048 bits or more): wrap the passphrase into " + dir +
                          "/passphrase.wrapped; " + dir + "/passphrase is then written only with --write-passphrase");
  AddChoice(cmd, "--kek-alg", o.kek_alg, kKekAlgs,
            "Wrapping algorithm, as Key Vault names it: RSA-OAEP (SHA-1), RSA-OAEP-256")
      ->needs(kek);
  cmd->add_option("--kek-url", o.kek_url,
                  "The KEK's Key Vault key URL (https://VAULT.vault.azure.net/keys/NAME/VERSION), recorded in " + dir +
                      "/keyvault-secret.json's tags")
      ->needs(kek);
  cmd->add_flag("--write-passphrase", o.write_passphrase,
                "With --kek, also write the generated passphrase to " + dir + "/passphrase (0600)");
  cmd->add_flag("--recovery-key", o.recovery_key,
                "Add a key slot per volume for a generated recovery key in systemd's form (as systemd-cryptenroll "
                "--recovery-key makes), written to " +
                    dir + "/recovery-key (0600), never printed");
}

// encrypt's options for the container, LUKS2, check and the run itself.
CLI::Option* AddEncryptRunOptions(CLI::App* cmd, EncryptCommandOptions& o) {
  auto* to = AddChoice(cmd, "--to", o.to, kContainers, "Output container (default: as the input)")->default_str("");
  AddChoice(cmd, "--format", o.format, kFormats, "Container format of IMAGE");
  cmd->add_option("--threads", o.threads, "Encryption threads, 1 to 256 (default: one per CPU)")
      ->check(CLI::Range(1u, 256u));
  AddPbkdfOptions(cmd, o.luks);
  AddChoice(cmd, "--sector-size", o.sector_size, kSectorSizes,
            "Encryption sector size: auto (4096 when the filesystem allows), 512, 4096");
  AddChoice(cmd, "--policy", o.rules.policy, kPolicies, "check policy");
  cmd->add_flag("--force", o.force, "Encrypt despite check errors, and replace existing outputs");
  cmd->add_flag("--no-input-hash", o.no_input_hash,
                "Do not hash the inputs: manifest.json gets input_sha256 null (saves one SHA-256 pass, ~1.6 GB/s "
                "per core, over every input)");
  cmd->add_flag("--verify", o.verify, "Afterwards, unlock every volume in the appliance and compare with the input");
  cmd->add_flag("--data-only", o.data_only,
                "The disks hold no OS: find ext2/3/4 and XFS filesystems by their superblocks and skip the "
                "appliance (no check, no guest edits; refused for disks with a boot partition)");
  cmd->add_flag("--skip-free-space", o.skip_free_space,
                "Encrypt and write only the blocks each filesystem uses (ext2/3/4, XFS); free blocks are "
                "left unwritten: holes, unallocated VHD blocks (an observer can tell which blocks are in use)");
  AddChoice(cmd, "--progress", o.progress, kProgressModes, kProgressHelp);
  return to;
}

// What the parser cannot check alone, before any work starts.
Status FinishEncryptOptions(EncryptCommandOptions& o) {
  RETURN_IF_ERROR(FinishPbkdfCosts(o.luks));
  // A typo here would go unnoticed until the secret is used: ADE's own check
  // wants https://VAULT.DOMAIN/keys/NAME/VERSION.
  if (!o.kek_url.empty() && (!o.kek_url.starts_with("https://") || o.kek_url.find("/keys/") == std::string::npos)) {
    return UsageError("--kek-url: '" + o.kek_url +
                      "' is not a Key Vault key URL (https://VAULT.vault.azure.net/keys/NAME/VERSION)");
  }
  return {};
}

// With --progress json, the output directory for the result line.
template <typename Options>
std::function<std::optional<std::string>()> JsonResultDir(std::shared_ptr<Options> o) {
  return [o]() -> std::optional<std::string> {
    if (o->progress != ProgressMode::kJson) return std::nullopt;
    return o->output_dir;
  };
}

}  // namespace

Invocation SetUpInfo(CLI::App* cmd, const GlobalOptions&) {
  auto o = std::make_shared<InfoCommandOptions>();
  cmd->add_option("IMAGE", o->image, "Disk image (VHD fixed or dynamic, or raw)")->required();
  AddChoice(cmd, "--format", o->format, kFormats, "Container format: auto (detect by content), vhd, raw");
  cmd->add_flag("--json", o->json, "Print JSON instead of text");
  return {[o] { return RunInfo(*o); }, {}};
}

Invocation SetUpConvert(CLI::App* cmd, const GlobalOptions&) {
  auto o = std::make_shared<ConvertCommandOptions>();
  cmd->add_option("IN", o->input, "Input image (never modified)")->required();
  cmd->add_option("OUT", o->output, "Output image (written atomically)")->required();
  AddChoice(cmd, "--to", o->to, kContainers, "Output container")->required()->default_str("");
  AddChoice(cmd, "--format", o->format, kFormats, "Input container format");
  cmd->add_flag("--force", o->force, "Replace OUT if it exists");
  cmd->add_flag("--progress", o->progress, "Show progress on stderr");
  return {[o] { return RunConvert(*o); }, {}};
}

Invocation SetUpCheck(CLI::App* cmd, const GlobalOptions&) {
  auto o = std::make_shared<CheckCommandOptions>();
  o->rules = {Policy::kAzure, VolumeType::kAll};
  cmd->add_option("IMAGE", o->image, "OS disk image (VHD or raw); opened read-only")->required();
  cmd->add_option("--data", o->data_disks, "A data disk image whose filesystems fstab refers to (repeatable)")
      ->allow_extra_args(false);
  AddChoice(cmd, "--format", o->format, kFormats, "Container format of IMAGE");
  AddChoice(cmd, "--policy", o->rules.policy, kPolicies,
            "azure: ADE's supported distros and versions; generic: any Linux vhdcrypt can unlock");
  AddChoice(cmd, "--volume-type", o->rules.volume_type, kVolumeTypes, "What will be encrypted");
  cmd->add_flag("--json", o->json, "Print JSON instead of text");
  return {[o] { return RunCheck(*o); }, {}};
}

Invocation SetUpEncrypt(CLI::App* cmd, const GlobalOptions& global) {
  auto o = std::make_shared<EncryptCommandOptions>();
  AddEncryptTargetOptions(cmd, *o);
  AddEncryptKeyOptions(cmd, *o, "--key-file", "DIR");
  CLI::Option* to = AddEncryptRunOptions(cmd, *o);
  auto run = [o, to, &global]() -> Result<int> {
    o->has_to = to->count() > 0;
    QuietProgress(global, o->progress);
    DropTrailingSlashes(o->output_dir);
    RETURN_IF_ERROR(FinishEncryptOptions(*o));
    return RunEncrypt(*o);
  };
  return {run, JsonResultDir(o)};
}

Invocation SetUpVerify(CLI::App* cmd, const GlobalOptions&) {
  auto o = std::make_shared<VerifyCommandOptions>();
  cmd->add_option("DIR", o->dir, "Output directory of vhdcrypt encrypt (holds manifest.json)")->required();
  cmd->add_option("--key-file", o->key_file, "Passphrase file")->required();
  cmd->add_option("--against", o->against,
                  "The original input images, in the order given to encrypt (IMAGE, then each --data): "
                  "compare each decrypted volume with its source partition, byte for byte (sha256)")
      ->allow_extra_args(false);
  return {[o] { return RunVerify(*o); }, {}};
}

Invocation SetUpDecrypt(CLI::App* cmd, const GlobalOptions& global) {
  auto o = std::make_shared<DecryptCommandOptions>();
  cmd->add_option("DIR|IMAGE", o->source,
                  "Output directory of vhdcrypt encrypt (holds manifest.json), or an image encrypted elsewhere "
                  "(ADE: detached OS header on /boot, attached data headers); never modified")
      ->required();
  cmd->add_option("--data", o->data_disks, "With IMAGE: a data disk image encrypted with it (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--key-file", o->key_file, "Passphrase file (all its bytes are the passphrase)")->required();
  cmd->add_option("--output-dir", o->output_dir,
                  "Directory for the plaintext images (same names as in DIR); made (0700) when missing")
      ->required();
  auto* to = AddChoice(cmd, "--to", o->to, kContainers, "Output container (default: as in DIR)")->default_str("");
  cmd->add_option("--threads", o->threads, "Decryption threads, 1 to 256 (default: one per CPU)")
      ->check(CLI::Range(1u, 256u));
  cmd->add_flag("--force", o->force, "Replace existing outputs");
  AddChoice(cmd, "--progress", o->progress, kProgressModes, kProgressHelp);
  auto run = [o, to, &global]() -> Result<int> {
    o->has_to = to->count() > 0;
    QuietProgress(global, o->progress);
    DropTrailingSlashes(o->output_dir);
    return RunDecrypt(*o);
  };
  return {run, JsonResultDir(o)};
}

Invocation SetUpRekey(CLI::App* cmd, const GlobalOptions&) {
  auto o = std::make_shared<RekeyCommandOptions>();
  cmd->add_option("IMAGE", o->images, "Encrypted images (VHD or raw), changed in place; bek.vhd among them too")
      ->required();
  cmd->add_option("--key-file", o->key_file, "File holding the current passphrase")->required();
  cmd->add_option("--new-key-file", o->new_key_file, "File holding the new passphrase (all its bytes)")->required();
  AddPbkdfOptions(cmd, o->luks);
  auto run = [o]() -> Result<int> {
    RETURN_IF_ERROR(FinishPbkdfCosts(o->luks));
    return RunRekey(*o);
  };
  return {run, {}};
}

Invocation SetUpDeploy(CLI::App* cmd, const GlobalOptions& global) {
  auto o = std::make_shared<DeployCommandOptions>();
  EncryptCommandOptions& in = o->instance;
  cmd->add_option("GOLDEN_DIR", o->golden_dir, "Output directory of vhdcrypt encrypt (holds manifest.json); only read")
      ->required();
  cmd->add_option("--key-file", o->golden_key_file, "File holding the golden passphrase")->required();
  cmd->add_option("--output-dir", in.output_dir,
                  "Directory for the instance's images, manifest.json and key outputs; made (0700) when missing")
      ->required();
  AddEncryptKeyOptions(cmd, in, "--new-key-file", "INSTANCE_DIR");
  cmd->add_flag("--no-key-volume", in.no_key_volume, "Do not write INSTANCE_DIR/bek.vhd");
  auto* to =
      AddChoice(cmd, "--to", in.to, kContainers, "Output container (default: as in GOLDEN_DIR)")->default_str("");
  cmd->add_option("--threads", in.threads, "Encryption threads, 1 to 256 (default: one per CPU)")
      ->check(CLI::Range(1u, 256u));
  AddPbkdfOptions(cmd, in.luks);
  cmd->add_flag("--force", in.force, "Replace existing outputs");
  AddChoice(cmd, "--progress", in.progress, kProgressModes, kProgressHelp);
  auto run = [o, to, &global]() -> Result<int> {
    EncryptCommandOptions& instance = o->instance;
    instance.has_to = to->count() > 0;
    QuietProgress(global, instance.progress);
    DropTrailingSlashes(instance.output_dir);
    DropTrailingSlashes(o->golden_dir);
    RETURN_IF_ERROR(FinishEncryptOptions(instance));
    return RunDeploy(*o);
  };
  auto result_dir = [o]() -> std::optional<std::string> {
    if (o->instance.progress != ProgressMode::kJson) return std::nullopt;
    return o->instance.output_dir;
  };
  return {run, result_dir};
}

Invocation SetUpStatus(CLI::App* cmd, const GlobalOptions&) {
  auto o = std::make_shared<StatusCommandOptions>();
  cmd->add_option("IMAGE", o->image, "OS disk image (VHD or raw), opened read-only")->required();
  cmd->add_option("--data", o->data_disks, "A data disk image (repeatable, one per flag)")->allow_extra_args(false);
  cmd->add_flag("--json", o->json, "Print JSON: os_volume_encrypted, data_volumes_encrypted, volumes (and images)");
  return {[o] { return RunStatus(*o); }, {}};
}

}  // namespace vhdcrypt
