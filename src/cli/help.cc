#include "src/cli/help.h"

#include "base/exit_codes.h"

namespace vhdcrypt {

const CommandHelp kInfoHelp = {
    "  Reads the container (VHD footer and dynamic header, or raw) and the partition table\n"
    "  (MBR with logical partitions, or GPT with its backup) and prints what it found. Every\n"
    "  structure is validated; a malformed one is reported with its offset and field (exit 3).\n"
    "  Reads nothing else of the image and needs no appliance.\n",
    "  vhdcrypt info disk.vhd\n"
    "  vhdcrypt info --json disk.raw | jq .partitions\n"};

const CommandHelp kConvertHelp = {
    "  Copies IN to OUT in another container: raw, fixed VHD (Azure's format) or dynamic VHD.\n"
    "  Unallocated and all-zero blocks stay unallocated (sparse raw, unallocated VHD blocks).\n"
    "  OUT is written under a temporary name in its directory, fsynced and renamed at the end;\n"
    "  IN is opened read-only.\n",
    "  vhdcrypt convert disk.raw disk.vhd --to vhd-fixed\n"
    "  vhdcrypt convert dynamic.vhd disk.raw --to raw --progress\n"};

const CommandHelp kCheckHelp = {
    "  Inspects the guest in a libguestfs appliance (read-only) and checks the prerequisites of\n"
    "  Azure Disk Encryption that vhdcrypt also relies on: distro and version (--policy azure),\n"
    "  partition layout, a plaintext /boot (or room to make one), /etc/fstab entries of the\n"
    "  volumes to encrypt, the vfat and dm-crypt kernel modules, the initramfs tool, SELinux.\n"
    "  Each finding has a rule name, a severity (error, warning, info) and what to do about it.\n"
    "  Exit 1 when any error-level finding is reported.\n",
    "  vhdcrypt check ubuntu.vhd\n"
    "  vhdcrypt check rhel.vhd --data data.vhd --volume-type all --json\n"};

const CommandHelp kEncryptHelp = {
    "  Runs check first (refusing on errors unless --force), then writes, for each input disk,\n"
    "  DIR/<name>.vhd (or .raw) in which the chosen volumes are LUKS2 (aes-xts-plain64, 512-bit\n"
    "  key, one passphrase for all): data volumes with their header attached (the partition\n"
    "  grows by 16 MiB, later partitions move), the OS volume with its header detached to\n"
    "  /boot/luks/osluksheader, as ADE does, or attached with --os-header attached (a /boot\n"
    "  partition is made when / holds /boot).\n"
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
    "  vhdcrypt encrypt data.vhd --data-only --kek kek.pem --output-dir out/ --progress json\n"};

const CommandHelp kVerifyHelp = {
    "  Reads DIR/manifest.json and, in a libguestfs appliance, unlocks every volume with the\n"
    "  kernel's dm-crypt (an implementation independent of vhdcrypt's engine), the OS volume\n"
    "  with its detached header. With --against, each decrypted volume is compared byte for\n"
    "  byte (sha256) with its source partition; otherwise its filesystem is checked read-only\n"
    "  (fsck -n, xfs_repair -n; LVM volumes on an OS volume each). Prints one ok/FAILED line\n"
    "  per volume; exit 1 when any fails.\n",
    "  vhdcrypt verify out/ --key-file out/passphrase\n"
    "  vhdcrypt verify out/ --key-file pass --against os.vhd --against data.vhd\n"};

const CommandHelp kDecryptHelp = {
    "  The inverse of encrypt. Every volume in DIR/manifest.json is unlocked with the passphrase\n"
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
    "  vhdcrypt decrypt ade-os.vhd --data ade-data.vhd --key-file bek.pass --output-dir plain/\n"};

const CommandHelp kRekeyHelp = {
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
    "  vhdcrypt rekey copy/os.vhd copy/data.vhd copy/bek.vhd --key-file golden.pass --new-key-file vm1.pass\n"};

const CommandHelp kDeployHelp = {
    "  Reads GOLDEN_DIR (an encrypt output directory) through its manifest and writes one\n"
    "  machine's copy into INSTANCE_DIR. Every volume gets a new random volume key: its data is\n"
    "  decrypted with the golden key and encrypted with the new one in one streaming pass (only\n"
    "  the used blocks of a golden made with --skip-free-space), never written in plaintext. Each\n"
    "  volume gets a new LUKS2 header (same UUID and layout) with a key slot for the instance's\n"
    "  passphrase (--new-key-file, or generated as encrypt does) and, with --recovery-key, one\n"
    "  for a recovery key. A detached OS header is replaced in /boot and in every initramfs\n"
    "  image, and bek.vhd holds the new passphrase. The golden passphrase opens nothing in the\n"
    "  instance; GOLDEN_DIR is only read. manifest.json names the golden by its sha256.\n",
    "  vhdcrypt deploy golden/ --key-file golden/passphrase --output-dir vm1/ --recovery-key\n"
    "  vhdcrypt deploy golden/ --key-file golden.pass --output-dir vm2/ --new-key-file vm2.pass\n"};

const CommandHelp kStatusHelp = {
    "  Looks at the images read-only in a libguestfs appliance, without a key, and reports\n"
    "  OsVolumeEncrypted and DataVolumesEncrypted as ADE does:\n"
    "    Encrypted             every such volume is LUKS\n"
    "    NotEncrypted          the OS volume, or at least one data volume, is a plain filesystem\n"
    "    NotMounted            (data) there are no data volumes\n"
    "    EncryptionInProgress  an encryption was interrupted: a LUKS2 header with a reencryption\n"
    "                          under way (ADE's in-place encryption), or an unfinished vhdcrypt\n"
    "                          output (its temporary name .NAME.vhdcrypt-PID-XXXXXX)\n"
    "    Unknown               (OS) no OS volume was found, e.g. a data disk alone\n"
    "  The OS volume is the one whose LUKS header is detached on /boot (/luks/osluksheader: vhdcrypt's\n"
    "  and ADE's layout; its partition from manifest.json beside the image, else the largest\n"
    "  partition with no signature), or a plaintext root filesystem. Data volumes are attached-header\n"
    "  LUKS volumes and the plaintext filesystems that are not /, /boot, an ESP, swap or a key volume.\n"
    "  Per volume: device, mountpoint (from manifest.json or a plaintext root's fstab), LUKS version,\n"
    "  cipher, key size, sector size, UUID, and the header, attached or detached and where.\n",
    "  vhdcrypt status out/os.vhd --data out/data.vhd\n"
    "  vhdcrypt status ade-disk.vhd --json | jq .os_volume_encrypted\n"};

std::string HelpFooter(const CommandHelp& help) {
  return std::string("Description:\n") + help.description + "\nExamples:\n" + help.examples + "\n" + kExitCodeHelp +
         kEnvironmentHelp;
}

}  // namespace vhdcrypt
