#include "src/cli/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

#include "base/exit_codes.h"
#include "base/strings.h"
#include "base/version.h"
#include "formats/output_file.h"
#include "src/commands/check.h"
#include "src/commands/convert.h"
#include "src/commands/decrypt.h"
#include "src/commands/encrypt.h"
#include "src/commands/info.h"
#include "src/commands/rekey.h"
#include "src/commands/report.h"
#include "src/commands/status.h"
#include "src/commands/verify.h"

namespace vhdcrypt {
namespace {

Result<FormatHint> ParseFormatHint(const std::string& s) {
  if (auto hint = FormatHintFromName(s)) return *hint;
  return UsageError("--format: '" + s + "' is not one of auto, vhd, raw");
}

Result<ContainerKind> ParseContainerKind(const std::string& s) {
  if (auto kind = ContainerKindFromName(s)) return *kind;
  return UsageError("--to: '" + s + "' is not one of vhd-fixed, vhd-dynamic, raw");
}

void SetUpLogging(int verbosity, bool quiet) {
  auto logger = spdlog::stderr_color_mt("vhdcrypt");
  logger->set_pattern("vhdcrypt: %^%l%$: %v");
  if (quiet) {
    logger->set_level(spdlog::level::warn);
  } else if (verbosity >= 2) {
    logger->set_level(spdlog::level::trace);
  } else if (verbosity == 1) {
    logger->set_level(spdlog::level::debug);
  } else {
    logger->set_level(spdlog::level::info);
  }
  spdlog::set_default_logger(logger);
}

// The part of a subcommand's --help after its options, as a man page's
// DESCRIPTION, FILES and EXAMPLES sections would put it, then the exit codes.
std::string Footer(const std::string& description, const std::string& examples) {
  return "Description:\n" + description + "\nExamples:\n" + examples + "\n" + kExitCodeHelp + kEnvironmentHelp;
}

// One subcommand: registers its options, then runs once parsing succeeded.
struct Subcommand {
  CLI::App* app;
  std::function<int()> run;
};

Subcommand AddInfo(CLI::App& root, InfoCommandOptions& o, std::string& format) {
  auto* cmd = root.add_subcommand("info", "Show the container, virtual size and partition table of an image");
  cmd->add_option("IMAGE", o.image, "Disk image (VHD fixed or dynamic, or raw)")->required();
  cmd->add_option("--format", format, "Container format: auto (detect by content), vhd, raw")->capture_default_str();
  cmd->add_flag("--json", o.json, "Print JSON instead of text");
  cmd->footer(
      Footer("  Reads the container (VHD footer and dynamic header, or raw) and the partition table\n"
             "  (MBR with logical partitions, or GPT with its backup) and prints what it found. Every\n"
             "  structure is validated; a malformed one is reported with its offset and field (exit 3).\n"
             "  Reads nothing else of the image and needs no appliance.\n",
             "  vhdcrypt info disk.vhd\n"
             "  vhdcrypt info --json disk.raw | jq .partitions\n"));
  return {cmd, [&o, &format]() {
            auto hint = ParseFormatHint(format);
            if (!hint.ok()) return ReportError(hint.error());
            o.format = *hint;
            return RunInfo(o);
          }};
}

Subcommand AddConvert(CLI::App& root, ConvertCommandOptions& o, std::string& format, std::string& to) {
  auto* cmd = root.add_subcommand("convert", "Copy an image into another container, keeping it sparse");
  cmd->add_option("IN", o.input, "Input image (never modified)")->required();
  cmd->add_option("OUT", o.output, "Output image (written atomically)")->required();
  cmd->add_option("--to", to, "Output container: vhd-fixed, vhd-dynamic, raw")->required();
  cmd->add_option("--format", format, "Input container format: auto, vhd, raw")->capture_default_str();
  cmd->add_flag("--force", o.force, "Replace OUT if it exists");
  cmd->add_flag("--progress", o.progress, "Show progress on stderr");
  cmd->footer(
      Footer("  Copies IN to OUT in another container: raw, fixed VHD (Azure's format) or dynamic VHD.\n"
             "  Unallocated and all-zero blocks stay unallocated (sparse raw, unallocated VHD blocks).\n"
             "  OUT is written under a temporary name in its directory, fsynced and renamed at the end;\n"
             "  IN is opened read-only.\n",
             "  vhdcrypt convert disk.raw disk.vhd --to vhd-fixed\n"
             "  vhdcrypt convert dynamic.vhd disk.raw --to raw --progress\n"));
  return {cmd, [&o, &format, &to]() {
            auto hint = ParseFormatHint(format);
            if (!hint.ok()) return ReportError(hint.error());
            auto kind = ParseContainerKind(to);
            if (!kind.ok()) return ReportError(kind.error());
            o.format = *hint;
            o.to = *kind;
            return RunConvert(o);
          }};
}

Result<CheckOptions> ParseRuleOptions(const std::string& policy, const std::string& volume_type) {
  CheckOptions r;
  if (policy == "azure") {
    r.policy = Policy::kAzure;
  } else if (policy == "generic") {
    r.policy = Policy::kGeneric;
  } else {
    return UsageError("--policy: '" + policy + "' is not one of azure, generic");
  }
  if (volume_type == "all") {
    r.volume_type = VolumeType::kAll;
  } else if (volume_type == "os") {
    r.volume_type = VolumeType::kOs;
  } else if (volume_type == "data") {
    r.volume_type = VolumeType::kData;
  } else {
    return UsageError("--volume-type: '" + volume_type + "' is not one of all, os, data");
  }
  return r;
}

Subcommand AddCheck(CLI::App& root, CheckCommandOptions& o, std::string& format, std::string& policy,
                    std::string& volume_type) {
  auto* cmd = root.add_subcommand("check", "Check an image against ADE's prerequisites before encrypting it");
  cmd->add_option("IMAGE", o.image, "OS disk image (VHD or raw); opened read-only")->required();
  cmd->add_option("--data", o.data_disks, "A data disk image whose filesystems fstab refers to (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--format", format, "Container format of IMAGE: auto, vhd, raw")->capture_default_str();
  cmd->add_option("--policy", policy,
                  "azure: ADE's supported distros and versions; generic: any Linux vhdcrypt can unlock")
      ->capture_default_str();
  cmd->add_option("--volume-type", volume_type, "What will be encrypted: all, os, data")->capture_default_str();
  cmd->add_flag("--json", o.json, "Print JSON instead of text");
  cmd->footer(
      Footer("  Inspects the guest in a libguestfs appliance (read-only) and checks the prerequisites of\n"
             "  Azure Disk Encryption that vhdcrypt also relies on: distro and version (--policy azure),\n"
             "  partition layout, a plaintext /boot (or room to make one), /etc/fstab entries of the\n"
             "  volumes to encrypt, the vfat and dm-crypt kernel modules, the initramfs tool, SELinux.\n"
             "  Each finding has a rule name, a severity (error, warning, info) and what to do about it.\n"
             "  Exit 1 when any error-level finding is reported.\n",
             "  vhdcrypt check ubuntu.vhd\n"
             "  vhdcrypt check rhel.vhd --data data.vhd --volume-type all --json\n"));
  return {cmd, [&o, &format, &policy, &volume_type]() {
            auto hint = ParseFormatHint(format);
            if (!hint.ok()) return ReportError(hint.error());
            o.format = *hint;
            auto rules = ParseRuleOptions(policy, volume_type);
            if (!rules.ok()) return ReportError(rules.error());
            o.rules = *rules;
            return RunCheck(o);
          }};
}

Result<Pbkdf> ParsePbkdf(const std::string& name) {
  if (name == "argon2id") return Pbkdf::kArgon2id;
  if (name == "pbkdf2") return Pbkdf::kPbkdf2;
  return UsageError("--pbkdf: '" + name + "' is not one of argon2id, pbkdf2");
}

// cryptsetup's options for fixed key slot costs (no benchmark): for
// reproducible pipelines and for measuring the bulk work alone.
void AddPbkdfCostOptions(CLI::App* cmd, LuksOptions& luks) {
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

struct EncryptArgs {
  std::string format = "auto", policy = "azure", volume_type = "data", to, pbkdf = "argon2id", sector_size = "auto",
              progress = "auto", kek_alg = "RSA-OAEP";
};

// encrypt's options: what to encrypt and where the outputs go.
void AddEncryptTargetOptions(CLI::App* cmd, EncryptCommandOptions& o, EncryptArgs& a) {
  cmd->add_option("--volume-type", a.volume_type,
                  "What to encrypt: data (filesystems other than /, /boot, swap), os (the root volume, "
                  "header detached on /boot, unlocked at boot from the key volume), all")
      ->capture_default_str();
  cmd->add_flag("--no-key-volume", o.no_key_volume,
                "Do not write DIR/bek.vhd, the key volume (vfat \"BEK VOLUME\") the guest unlocks from at boot");
  cmd->add_option("--boot-size", o.boot_size_mib,
                  "MiB of the new /boot partition made when / holds /boot and the OS volume is encrypted")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{512}, uint64_t{1} << 20));
}

// encrypt's options for the passphrase and its KEK.
void AddEncryptKeyOptions(CLI::App* cmd, EncryptCommandOptions& o, EncryptArgs& a) {
  cmd->add_option("--key-file", o.key_file,
                  "Passphrase file (all its bytes are the passphrase); default: generate DIR/passphrase (0600)");
  auto* kek = cmd->add_option("--kek", o.kek,
                              "RSA public key (PEM, 2048 bits or more): wrap the passphrase into "
                              "DIR/passphrase.wrapped; DIR/passphrase is then written only with --write-passphrase");
  cmd->add_option("--kek-alg", a.kek_alg, "Wrapping algorithm, as Key Vault names it: RSA-OAEP (SHA-1), RSA-OAEP-256")
      ->capture_default_str()
      ->needs(kek);
  cmd->add_option("--kek-url", o.kek_url,
                  "The KEK's Key Vault key URL (https://VAULT.vault.azure.net/keys/NAME/VERSION), recorded in "
                  "DIR/keyvault-secret.json's tags")
      ->needs(kek);
  cmd->add_flag("--write-passphrase", o.write_passphrase,
                "With --kek, also write the generated passphrase to DIR/passphrase (0600)");
}

// encrypt's options for the container, LUKS2, check and the run itself.
void AddEncryptRunOptions(CLI::App* cmd, EncryptCommandOptions& o, EncryptArgs& a) {
  cmd->add_option("--to", a.to, "Output container: vhd-fixed, vhd-dynamic, raw (default: as the input)");
  cmd->add_option("--format", a.format, "Container format of IMAGE: auto, vhd, raw")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Encryption threads (default: one per CPU)");
  cmd->add_option("--pbkdf", a.pbkdf, "Key slot PBKDF: argon2id, pbkdf2")->capture_default_str();
  cmd->add_option("--iter-time", o.luks.iter_time_ms, "PBKDF unlock time in milliseconds, as cryptsetup's")
      ->capture_default_str();
  AddPbkdfCostOptions(cmd, o.luks);
  cmd->add_option("--sector-size", a.sector_size,
                  "Encryption sector size: auto (4096 when the filesystem allows), 512, 4096")
      ->capture_default_str();
  cmd->add_option("--policy", a.policy, "check policy: azure, generic")->capture_default_str();
  cmd->add_flag("--force", o.force, "Encrypt despite check errors, and replace existing outputs");
  cmd->add_flag("--no-input-hash", o.no_input_hash,
                "Do not hash the inputs: manifest.json gets input_sha256 null (saves one SHA-256 pass, ~1.6 GB/s "
                "per core, over every input)");
  cmd->add_flag("--verify", o.verify, "Afterwards, unlock every volume in the appliance and compare with the input");
  cmd->add_flag("--data-only", o.data_only,
                "The disks hold no OS: find ext2/3/4 and XFS filesystems by their superblocks and skip the "
                "appliance (no check, no guest edits; refused for disks with a boot partition)");
  cmd->add_option("--progress", a.progress, "auto (bar on a terminal), plain, json (lines on stdout), none")
      ->capture_default_str();
}

// The text values of encrypt's options into EncryptCommandOptions; kUsage for one that is not valid.
Status FinishEncryptOptions(EncryptCommandOptions& o, const EncryptArgs& a) {
  ASSIGN_OR_RETURN(o.format, ParseFormatHint(a.format));
  ASSIGN_OR_RETURN(o.rules, ParseRuleOptions(a.policy, a.volume_type));
  if (!a.to.empty()) {
    ASSIGN_OR_RETURN(o.to, ParseContainerKind(a.to));
    o.has_to = true;
  }
  ASSIGN_OR_RETURN(o.luks.pbkdf, ParsePbkdf(a.pbkdf));
  if (o.luks.iter_time_ms == 0) return UsageError("--iter-time: must be at least 1 ms");
  RETURN_IF_ERROR(FinishPbkdfCosts(o.luks));
  if (a.sector_size == "auto") {
    o.sector_size = 0;
  } else if (a.sector_size == "512" || a.sector_size == "4096") {
    o.sector_size = static_cast<uint32_t>(std::stoul(a.sector_size));
  } else {
    return UsageError("--sector-size: '" + a.sector_size + "' is not one of auto, 512, 4096");
  }
  ASSIGN_OR_RETURN(o.progress, ParseProgressMode(a.progress));
  ASSIGN_OR_RETURN(o.kek_alg, ParseKekAlg(a.kek_alg));
  // A typo here would go unnoticed until the secret is used: ADE's own check
  // wants https://VAULT.DOMAIN/keys/NAME/VERSION.
  if (!o.kek_url.empty() && (!o.kek_url.starts_with("https://") || o.kek_url.find("/keys/") == std::string::npos)) {
    return UsageError("--kek-url: '" + o.kek_url +
                      "' is not a Key Vault key URL (https://VAULT.vault.azure.net/keys/NAME/VERSION)");
  }
  return {};
}

Subcommand AddEncrypt(CLI::App& root, EncryptCommandOptions& o, EncryptArgs& a) {
  auto* cmd = root.add_subcommand(
      "encrypt",
      "Encrypt the OS and data volumes of an image (and its data disks) as LUKS2 into new images in an output "
      "directory");
  cmd->add_option("IMAGE", o.image,
                  "OS disk image (VHD or raw), opened read-only; a disk without an OS is encrypted whole")
      ->required();
  cmd->add_option("--data", o.data_disks, "A data disk image (repeatable, one per flag)")->allow_extra_args(false);
  cmd->add_option("--output-dir", o.output_dir,
                  "Existing directory for the new images, manifest.json and the key outputs (passphrase, "
                  "passphrase.wrapped, keyvault-secret.json)")
      ->required();
  AddEncryptTargetOptions(cmd, o, a);
  AddEncryptKeyOptions(cmd, o, a);
  AddEncryptRunOptions(cmd, o, a);
  cmd->footer(
      Footer("  Runs check first (refusing on errors unless --force), then writes, for each input disk,\n"
             "  DIR/<name>.vhd (or .raw) in which the chosen volumes are LUKS2 (aes-xts-plain64, 512-bit\n"
             "  key, one passphrase for all): data volumes with their header attached (the partition\n"
             "  grows by 16 MiB, later partitions move), the OS volume with its header detached to\n"
             "  /boot/luks/osluksheader, as ADE does (a /boot partition is made when / holds /boot).\n"
             "  The guest learns to unlock at boot: crypttab, fstab, the kernel command line, its\n"
             "  initramfs (initramfs-tools or dracut) and grub.cfg, rebuilt by its own tools.\n"
             "  Inputs are opened read-only; outputs appear only once complete.\n"
             "Files written to DIR:\n"
             "  <name>.vhd|.raw       the encrypted disks\n"
             "  bek.vhd               key volume: vfat \"BEK VOLUME\" holding LinuxPassPhraseFileName\n"
             "  passphrase            the generated passphrase (0600; not with --key-file, nor --kek alone)\n"
             "  passphrase.wrapped    with --kek: the passphrase, RSA-OAEP wrapped\n"
             "  keyvault-secret.json  the Key Vault secret (value and ADE's tags; 0600)\n"
             "  manifest.json         inputs (sha256), outputs and every volume; no secrets\n",
             "  vhdcrypt encrypt ubuntu.vhd --volume-type all --output-dir out/\n"
             "  vhdcrypt encrypt os.vhd --data data.vhd --key-file pass --output-dir out/ --verify\n"
             "  vhdcrypt encrypt data.vhd --data-only --kek kek.pem --output-dir out/ --progress json\n"));
  return {cmd, [&o, &a]() {
            if (Status s = FinishEncryptOptions(o, a); !s.ok()) return ReportError(s.error());
            return RunEncrypt(o);
          }};
}

Subcommand AddVerify(CLI::App& root, VerifyCommandOptions& o) {
  auto* cmd = root.add_subcommand(
      "verify", "Unlock every volume of an encrypt output directory with dm-crypt and check what it decrypts to");
  cmd->add_option("DIR", o.dir, "Output directory of vhdcrypt encrypt (holds manifest.json)")->required();
  cmd->add_option("--key-file", o.key_file, "Passphrase file")->required();
  cmd->add_option("--against", o.against,
                  "The original input images, in the order given to encrypt (IMAGE, then each --data): "
                  "compare each decrypted volume with its source partition, byte for byte (sha256)")
      ->allow_extra_args(false);
  cmd->footer(
      Footer("  Reads DIR/manifest.json and, in a libguestfs appliance, unlocks every volume with the\n"
             "  kernel's dm-crypt (an implementation independent of vhdcrypt's engine), the OS volume\n"
             "  with its detached header. With --against, each decrypted volume is compared byte for\n"
             "  byte (sha256) with its source partition; otherwise its filesystem is checked read-only\n"
             "  (fsck -n, xfs_repair -n; LVM volumes on an OS volume each). Prints one ok/FAILED line\n"
             "  per volume; exit 1 when any fails.\n",
             "  vhdcrypt verify out/ --key-file out/passphrase\n"
             "  vhdcrypt verify out/ --key-file pass --against os.vhd --against data.vhd\n"));
  return {cmd, [&o]() { return RunVerify(o); }};
}

struct DecryptArgs {
  std::string to, progress = "auto";
};

Subcommand AddDecrypt(CLI::App& root, DecryptCommandOptions& o, DecryptArgs& a) {
  auto* cmd = root.add_subcommand("decrypt",
                                  "Decrypt an encrypt output directory into plaintext images (for labs and forensics)");
  cmd->add_option("DIR|IMAGE", o.source,
                  "Output directory of vhdcrypt encrypt (holds manifest.json), or an image encrypted elsewhere "
                  "(ADE: detached OS header on /boot, attached data headers); never modified")
      ->required();
  cmd->add_option("--data", o.data_disks, "With IMAGE: a data disk image encrypted with it (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--key-file", o.key_file, "Passphrase file (all its bytes are the passphrase)")->required();
  cmd->add_option("--output-dir", o.output_dir, "Existing directory for the plaintext images (same names as in DIR)")
      ->required();
  cmd->add_option("--to", a.to, "Output container: vhd-fixed, vhd-dynamic, raw (default: as in DIR)");
  cmd->add_option("--threads", o.threads, "Decryption threads (default: one per CPU)");
  cmd->add_flag("--force", o.force, "Replace existing outputs");
  cmd->add_option("--progress", a.progress, "auto (bar on a terminal), plain, json (lines on stdout), none")
      ->capture_default_str();
  cmd->footer(
      Footer("  The inverse of encrypt. Every volume in DIR/manifest.json is unlocked with the passphrase\n"
             "  (the OS volume with its detached header, read from /boot through the appliance; data\n"
             "  volumes with their attached headers) and decrypted by vhdcrypt's engine into a new\n"
             "  image in OUT: the plaintext starts at the partition's first byte, so the volume holds\n"
             "  exactly what encrypt read; the 16 MiB an attached header took are left as zeros at the\n"
             "  partition's end. The partition table and every other byte are copied unchanged, and\n"
             "  the guest's configuration stays as encrypt left it (crypttab, fstab, initramfs): the\n"
             "  result is for reading the volumes, not for booting. DIR is opened read-only; outputs\n"
             "  appear only once complete. A wrong passphrase is a usage error (exit 2).\n"
             "  Given an IMAGE (and --data disks) without a manifest, as Azure Disk Encryption leaves\n"
             "  them, the volumes are found as status finds them (the OS volume's header detached on\n"
             "  /boot, the data volumes' attached) and each runs to the end of its partition; an\n"
             "  encryption still in progress is refused.\n",
             "  vhdcrypt decrypt out/ --key-file out/passphrase --output-dir plain/\n"
             "  vhdcrypt decrypt out/ --key-file pass --output-dir plain/ --to raw\n"
             "  vhdcrypt decrypt ade-os.vhd --data ade-data.vhd --key-file bek.pass --output-dir plain/\n"));
  return {cmd, [&o, &a]() {
            if (!a.to.empty()) {
              auto kind = ParseContainerKind(a.to);
              if (!kind.ok()) return ReportError(kind.error());
              o.has_to = true;
              o.to = *kind;
            }
            auto progress = ParseProgressMode(a.progress);
            if (!progress.ok()) return ReportError(progress.error());
            o.progress = *progress;
            return RunDecrypt(o);
          }};
}

Subcommand AddRekey(CLI::App& root, RekeyCommandOptions& o, std::string& pbkdf) {
  auto* cmd = root.add_subcommand("rekey", "Replace the passphrase of every LUKS2 volume (and key volume) in images");
  cmd->add_option("IMAGE", o.images, "Encrypted images (VHD or raw), changed in place; bek.vhd among them too")
      ->required();
  cmd->add_option("--key-file", o.key_file, "File holding the current passphrase")->required();
  cmd->add_option("--new-key-file", o.new_key_file, "File holding the new passphrase (all its bytes)")->required();
  cmd->add_option("--pbkdf", pbkdf, "PBKDF of the new key slots: argon2id, pbkdf2")->capture_default_str();
  cmd->add_option("--iter-time", o.luks.iter_time_ms, "PBKDF unlock time in milliseconds, as cryptsetup's")
      ->capture_default_str()
      ->check(CLI::Range(1u, 60000u));
  AddPbkdfCostOptions(cmd, o.luks);
  cmd->footer(Footer(
      "  Opens the images writable in a libguestfs appliance and finds every LUKS2 volume: headers\n"
      "  attached to their partition (or disk), and detached OS headers stored as\n"
      "  /luks/osluksheader or /boot/luks/osluksheader on a plaintext filesystem (vhdcrypt's and\n"
      "  ADE's layout). Each header gets a key slot for the new passphrase in place of the one the\n"
      "  old passphrase opens (libcryptsetup's keyslot change; the volume key and the data stay),\n"
      "  and a key volume (vfat \"BEK VOLUME\") gets the new passphrase in LinuxPassPhraseFileName.\n"
      "  All headers are changed in memory and checked before anything is written: a wrong old\n"
      "  passphrase (exit 2), or a key volume holding another passphrase, changes nothing. What\n"
      "  was written is read back and compared. The images are changed in place: rekey a copy of a\n"
      "  golden image per deployment. Update the Key Vault secret yourself (docs/azure.md).\n",
      "  vhdcrypt rekey copy/os.vhd copy/data.vhd copy/bek.vhd --key-file golden.pass --new-key-file vm1.pass\n"));
  return {cmd, [&o, &pbkdf]() {
            auto parsed = ParsePbkdf(pbkdf);
            if (!parsed.ok()) return ReportError(parsed.error());
            o.luks.pbkdf = *parsed;
            if (Status s = FinishPbkdfCosts(o.luks); !s.ok()) return ReportError(s.error());
            return RunRekey(o);
          }};
}

Subcommand AddStatus(CLI::App& root, StatusCommandOptions& o) {
  auto* cmd = root.add_subcommand("status", "Report what is encrypted in images, in ADE's terms (no key needed)");
  cmd->add_option("IMAGE", o.image, "OS disk image (VHD or raw), opened read-only")->required();
  cmd->add_option("--data", o.data_disks, "A data disk image (repeatable, one per flag)")->allow_extra_args(false);
  cmd->add_flag("--json", o.json, "Print JSON: os_volume_encrypted, data_volumes_encrypted, volumes (and images)");
  cmd->footer(
      Footer("  Looks at the images read-only in a libguestfs appliance, without a key, and reports\n"
             "  OsVolumeEncrypted and DataVolumesEncrypted as ADE does:\n"
             "    Encrypted             every such volume is LUKS\n"
             "    NotEncrypted          the OS volume, or at least one data volume, is a plain filesystem\n"
             "    NotMounted            (data) there are no data volumes\n"
             "    EncryptionInProgress  an encryption was interrupted: a LUKS2 header with a reencryption\n"
             "                          under way (ADE's in-place encryption), or an unfinished vhdcrypt\n"
             "                          output (its temporary name .NAME.vhdcrypt-XXXXXX)\n"
             "    Unknown               (OS) no OS volume was found, e.g. a data disk alone\n"
             "  The OS volume is the one whose LUKS header is detached on /boot (/luks/osluksheader: vhdcrypt's\n"
             "  and ADE's layout; its partition from manifest.json beside the image, else the largest\n"
             "  partition with no signature), or a plaintext root filesystem. Data volumes are attached-header\n"
             "  LUKS volumes and the plaintext filesystems that are not /, /boot, an ESP, swap or a key volume.\n"
             "  Per volume: device, mountpoint (from manifest.json or a plaintext root's fstab), LUKS version,\n"
             "  cipher, key size, sector size, UUID, and the header, attached or detached and where.\n",
             "  vhdcrypt status out/os.vhd --data out/data.vhd\n"
             "  vhdcrypt status ade-disk.vhd --json | jq .os_volume_encrypted\n"));
  return {cmd, [&o]() { return RunStatus(o); }};
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"vhdcrypt: prepare pre-encrypted Linux disk images offline"};
  app.footer(std::string("Run vhdcrypt SUBCOMMAND --help for what each does, with examples.\n\n") + kExitCodeHelp +
             kEnvironmentHelp);
  app.require_subcommand(1);
  app.set_version_flag("--version", kToolName);
  int verbosity = 0;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbosity, "More log output (repeat for more)");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors");

  InfoCommandOptions info;
  ConvertCommandOptions convert;
  CheckCommandOptions check;
  std::string info_format = "auto", convert_format = "auto", convert_to;
  std::string check_format = "auto", check_policy = "azure", check_volumes = "all";
  EncryptCommandOptions encrypt;
  EncryptArgs encrypt_args;
  VerifyCommandOptions verify;
  DecryptCommandOptions decrypt;
  RekeyCommandOptions rekey;
  StatusCommandOptions status;
  std::string rekey_pbkdf = "argon2id";
  DecryptArgs decrypt_args;
  std::vector<Subcommand> subcommands = {
      AddInfo(app, info, info_format),
      AddConvert(app, convert, convert_format, convert_to),
      AddCheck(app, check, check_format, check_policy, check_volumes),
      AddEncrypt(app, encrypt, encrypt_args),
      AddVerify(app, verify),
      AddDecrypt(app, decrypt, decrypt_args),
      AddRekey(app, rekey, rekey_pbkdf),
      AddStatus(app, status),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  SetUpLogging(verbosity, quiet);
  if (quiet && encrypt_args.progress == "auto") encrypt_args.progress = "none";
  if (quiet && decrypt_args.progress == "auto") decrypt_args.progress = "none";
  InstallCleanupSignalHandlers();
  for (auto& s : subcommands) {
    if (s.app->parsed()) return s.run();
  }
  return kExitUsage;
}

}  // namespace vhdcrypt
