// The text of the guest files encrypt writes or changes: /etc/fstab and
// /etc/crypttab, the initramfs-tools keyscript, hook and modules, the dracut
// configuration, the kernel command line in /etc/default/grub. Pure functions
// over text; the steps of os_edits.h read and write the files.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace vhdcrypt {

// Replaces the first field (the device) of the given 1-based lines, keeping
// the rest of each line byte for byte (spacing, options, comments).
std::vector<std::string> RewriteFstab(const std::vector<std::string>& lines,
                                      const std::map<int, std::string>& spec_by_line);

// Adds a line mounting the new /boot partition (ext4, by filesystem UUID)
// right after the line of / (so before /boot/efi), under a comment saying
// who added it. Lines already mounting /boot are an error of the caller's.
std::vector<std::string> AddBootToFstab(const std::vector<std::string>& lines, int root_line,
                                        const std::string& fs_uuid);

struct CrypttabVolume {
  std::string name;       // dm name: "luks-<uuid>"
  std::string luks_uuid;  // the LUKS header's UUID ("" when source is given)
  std::string key_file;   // "none", or where the passphrase comes from
  std::string options;    // "luks,nofail"
  std::string source;     // the device field, when not "UUID=<luks_uuid>"
};

// "luks-<uuid>": the name systemd gives LUKS volumes, unique per volume.
std::string MapperName(const std::string& luks_uuid);

// Keeps the existing lines and appends one line per volume, under a comment
// saying who added them. Ends with a newline. An existing line for one of the
// names is dropped (a re-run replaces it).
std::string ComposeCrypttab(const std::vector<std::string>& existing, const std::vector<CrypttabVolume>& volumes);

// --- The OS volume (initramfs-tools) ----------------------------------------
// Where ADE keeps the OS volume's detached LUKS header, on the plaintext /boot.
constexpr char kOsHeaderPath[] = "/boot/luks/osluksheader";
constexpr char kOsMapperName[] = "osencrypt";  // ADE's name for the root mapping
// Installed in the guest: the initramfs-tools keyscript that reads the
// passphrase from the key volume, and the hook that puts the detached header
// (and the key volume's modules) into the initramfs.
constexpr char kKeyscriptPath[] = "/usr/lib/vhdcrypt/bek-keyscript";
constexpr char kInitramfsHookPath[] = "/etc/initramfs-tools/hooks/vhdcrypt";
constexpr char kInitramfsModulesPath[] = "/etc/initramfs-tools/modules";

// /dev/disk/by-partuuid/<partuuid>: the OS volume carries no LUKS header, so
// only its partition identifies it.
std::string OsVolumeSource(const std::string& partuuid);

// Where the OS volume's LUKS2 header is, which says how the initramfs finds
// the volume: detached in kOsHeaderPath (the partition carries no LUKS
// signature, so it is named by PARTUUID), or attached in front of the data
// (named by its LUKS UUID, as any LUKS volume).
struct OsVolumeRef {
  bool detached = true;
  std::string partuuid;   // detached
  std::string luks_uuid;  // attached
};

// The crypttab line that opens the OS volume in the initramfs: the header
// (header= when detached), the keyscript, `initramfs` (the hook cannot find
// the root device offline: it is plaintext when the initramfs is made), one
// try per attempt (without the key volume the boot stops in the initramfs
// instead of mounting anything).
CrypttabVolume OsCrypttabVolume(const OsVolumeRef& ref);

// --- The OS volume (dracut) -------------------------------------------------
// dracut's initramfs runs systemd, whose systemd-cryptsetup reads the
// crypttab copied into it: the detached header (copied in too, same path)
// when there is one, and the passphrase file on the key volume, which it
// mounts itself. Without the key volume the unit fails and dracut stops in
// its emergency shell.
constexpr char kDracutConfPath[] = "/etc/dracut.conf.d/90-vhdcrypt.conf";
// x-initrd.attach keeps the root mapping up to the end; `force` keeps the line
// in a host-only initramfs although the partition shows no LUKS signature
// (none ever with a detached header; none yet with an attached one, as the
// volume is still plaintext when the initramfs is made).
CrypttabVolume OsCrypttabVolumeDracut(const OsVolumeRef& ref);
// The dracut configuration: crypt, dm (and lvm when / is on LVM) modules, the
// key volume's and dm-crypt's kernel modules, the given storage drivers (those
// of guest::kBootStorageDrivers every installed kernel has: dracut fails on a
// driver it cannot find), crypttab and, when detached, the header.
std::string DracutConfText(bool lvm, const std::vector<std::string>& storage_drivers, bool detached_header);

// The data volumes' key field for systemd-cryptsetup: the passphrase file on
// the key volume, which systemd mounts by itself ("path:device").
std::string DataVolumeKeyField();

std::string KeyscriptText();
std::string InitramfsHookText();
// The modules file with the key volume's and dm-crypt's modules appended
// (those already listed are not repeated).
std::string InitramfsModulesText(const std::vector<std::string>& existing);

// --- The kernel command line ------------------------------------------------
// With the OS volume encrypted, options that would keep the initramfs from
// opening it are dropped (dracut's and systemd's rd.luks=0, rd.luks.crypttab=0
// and their luks.* forms, "no" as well), and a root= naming the OS volume's
// partition (PARTUUID=, /dev/disk/by-partuuid/) names the mapping instead,
// since the partition now holds only ciphertext. Everything else is kept in
// its order. `changes` gets one human-readable line per change.
struct CmdlineEdit {
  std::string os_partuuid;   // the OS volume's partition
  std::string root_mapping;  // "/dev/mapper/osencrypt"; "" when / is on LVM (root= names the LV)
};
std::string EditKernelCmdline(const std::string& cmdline, const CmdlineEdit& edit, std::vector<std::string>* changes);

// Applies EditKernelCmdline to the GRUB_CMDLINE_LINUX and
// GRUB_CMDLINE_LINUX_DEFAULT assignments of a /etc/default/grub (or
// /etc/default/grub.d/*.cfg) file: KEY="...", KEY='...' or KEY=word, with an
// optional `export`; shell expansions such as $GRUB_CMDLINE_LINUX stay as
// they are. Other lines are kept byte for byte.
std::vector<std::string> EditGrubDefaults(const std::vector<std::string>& lines, const CmdlineEdit& edit,
                                          std::vector<std::string>* changes);

// Joins lines with '\n', ending with one.
std::string JoinLines(const std::vector<std::string>& lines);

}  // namespace vhdcrypt
