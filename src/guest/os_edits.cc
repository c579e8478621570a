#include "src/guest/os_edits.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/strings.h"

namespace vhdcrypt {
namespace {

// In the guest's chroot: fails with the command's own output.
Status RunInGuest(guest::Ops& g, const std::vector<std::string>& argv) {
  spdlog::info("guest: running {}", argv[0] == "sh" ? argv.back() : argv[0]);
  auto out = g.Command(argv);
  if (!out.ok()) return Error(ErrorKind::kGuest, argv[0] + " in the guest failed: " + out.error().message());
  spdlog::debug("guest: {}: {}", argv[0], *out);
  return {};
}

// Unlocking at boot with initramfs-tools: the detached header on /boot, the
// keyscript and hook, the modules; then the guest's own update-initramfs
// rebuilds the initramfs of every kernel.
Status ConfigureInitramfsTools(guest::Ops& g) {
  RETURN_IF_ERROR(g.Mkdir("/usr/lib/vhdcrypt"));
  RETURN_IF_ERROR(g.Write(kKeyscriptPath, KeyscriptText()));
  RETURN_IF_ERROR(g.Chmod(0755, kKeyscriptPath));
  RETURN_IF_ERROR(g.Mkdir("/etc/initramfs-tools/hooks"));
  RETURN_IF_ERROR(g.Write(kInitramfsHookPath, InitramfsHookText()));
  RETURN_IF_ERROR(g.Chmod(0755, kInitramfsHookPath));
  ASSIGN_OR_RETURN(auto modules, g.ReadLinesIfExists(kInitramfsModulesPath));
  RETURN_IF_ERROR(g.Write(kInitramfsModulesPath, InitramfsModulesText(modules)));
  return RunInGuest(g, {"update-initramfs", "-u", "-k", "all"});
}

// With dracut: a configuration file puts crypttab, the header and the
// modules into the initramfs; then the guest's dracut remakes the initramfs
// of every installed kernel.
Status ConfigureDracut(guest::Ops& g, const guest::Facts& facts, bool detached_header) {
  std::vector<std::string> drivers;
  for (const char* m : guest::kBootStorageDrivers) {
    const auto has = [&](const guest::Kernel& k) {
      auto it = k.modules.find(m);
      return it != k.modules.end() && it->second.present();
    };
    const bool everywhere = !facts.kernels.empty() && std::all_of(facts.kernels.begin(), facts.kernels.end(), has);
    if (everywhere) drivers.push_back(m);
  }
  RETURN_IF_ERROR(g.Mkdir("/etc/dracut.conf.d"));
  RETURN_IF_ERROR(g.Write(kDracutConfPath, DracutConfText(facts.root_on_lvm, drivers, detached_header)));
  return RunInGuest(g, {"dracut", "--force", "--regenerate-all"});
}

// A detached header goes to /boot (mode 0600), then the guest's initramfs
// tool learns to unlock the OS volume. (root=UUID= on the kernel command line
// needs no change: it names the filesystem, which appears once the initramfs
// has opened osencrypt; UpdateKernelCmdline handles the options that do.)
Status ConfigureOsUnlock(guest::Ops& g, const guest::Facts& facts, const std::vector<uint8_t>* header) {
  if (header != nullptr) {
    RETURN_IF_ERROR(g.Mkdir("/boot/luks"));
    RETURN_IF_ERROR(g.WriteBytes(kOsHeaderPath, *header));
    RETURN_IF_ERROR(g.Chmod(0600, kOsHeaderPath));
  }
  if (facts.initramfs_tool == "dracut") return ConfigureDracut(g, facts, header != nullptr);
  return ConfigureInitramfsTools(g);
}

// An SELinux guest (enforcing or permissive) gets the labels of what
// vhdcrypt wrote restored by its own setfiles and policy, in its chroot; /boot
// is relabelled whole (header, initramfs images, and everything when it
// moved). setfiles stays on the filesystem of each path it is given (not into
// a vfat ESP below /boot). Without
// setfiles or the policy's file contexts the guest is told to relabel itself
// at its next boot (/.autorelabel), which takes one more reboot.
Status RestoreSelinuxLabels(guest::Ops& g, const guest::Facts& facts) {
  const std::string mode = Lower(facts.selinux_mode);
  if (mode != "enforcing" && mode != "permissive") return {};
  const std::string contexts = "/etc/selinux/" +
                               (facts.selinux_type.empty() ? std::string("targeted") : facts.selinux_type) +
                               "/contexts/files/file_contexts";
  ASSIGN_OR_RETURN(bool have_contexts, g.Exists(contexts));
  if (!facts.setfiles_installed || !have_contexts) {
    spdlog::warn("SELinux is {} but {}; the guest will relabel every file at its next boot (/.autorelabel)", mode,
                 facts.setfiles_installed ? contexts + " is missing" : "setfiles is not installed");
    return g.Write("/.autorelabel", "");
  }
  std::vector<std::string> argv = {"setfiles", "-F", contexts};
  for (const char* path :
       {"/etc/fstab", "/etc/crypttab", "/etc/initramfs-tools", "/etc/dracut.conf.d", "/usr/lib/vhdcrypt", "/boot"}) {
    ASSIGN_OR_RETURN(bool exists, g.Exists(path));
    if (exists) argv.push_back(path);
  }
  spdlog::info("SELinux is {}: restoring the labels of the edited files with the guest's setfiles", mode);
  return RunInGuest(g, argv);
}

// / holds /boot: the empty partition `dev` gets an ext4 filesystem, /boot's
// contents move into it (owners, modes, links kept; /boot itself stays as the
// mount point, empty) and it is mounted at /boot. Returns its UUID for fstab.
// The ESP is not mounted yet, so /boot/efi moves as an empty mount point.
Result<std::string> MoveBootOut(guest::Ops& g, const std::string& dev) {
  spdlog::info("guest: moving /boot out of / into {}", dev);
  RETURN_IF_ERROR(g.Mkfs("ext4", dev, "boot"));
  ASSIGN_OR_RETURN(auto ids, g.Blkid(dev));
  const std::string uuid = ids["UUID"];
  if (uuid.empty()) return Error(ErrorKind::kGuest, "the new /boot filesystem on " + dev + " has no UUID");
  const std::string staging = "/.vhdcrypt-boot";
  RETURN_IF_ERROR(g.Mkdir(staging));
  RETURN_IF_ERROR(g.Mount(dev, staging));
  RETURN_IF_ERROR(g.CopyTree("/boot/.", staging));
  ASSIGN_OR_RETURN(auto entries, g.Ls("/boot"));
  for (const std::string& e : entries) RETURN_IF_ERROR(g.RemoveTree("/boot/" + e));
  RETURN_IF_ERROR(g.Umount(staging));
  RETURN_IF_ERROR(g.Rmdir(staging));
  RETURN_IF_ERROR(g.Mount(dev, "/boot"));
  return uuid;
}

// grub.cfg made again by the guest's own update-grub (Debian, Ubuntu) or
// grub2-mkconfig (RHEL and its kin), so it carries the kernel command line of
// /etc/default/grub and the initramfs images as they are now.
// A guest booted by something else (no GRUB tools) keeps its configuration,
// with a warning: vhdcrypt does not know how to rebuild it.
Status RebuildGrubConfig(guest::Ops& g) {
  ASSIGN_OR_RETURN(std::string tool,
                   g.Command({"sh", "-c", "command -v update-grub || command -v grub2-mkconfig || true"}));
  if (tool.find("update-grub") != std::string::npos) return RunInGuest(g, {"update-grub"});
  if (tool.find("grub2-mkconfig") != std::string::npos) {
    return RunInGuest(g, {"grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"});
  }
  spdlog::warn(
      "the guest has neither update-grub nor grub2-mkconfig: its boot loader configuration was not "
      "rebuilt; make sure it passes the kernel command line in /etc/default/grub");
  return {};
}

// The kernel command line in /etc/default/grub and /etc/default/grub.d/*.cfg,
// edited for the encrypted OS volume (EditKernelCmdline says how); the
// rebuilt grub.cfg then carries it.
Status UpdateKernelCmdline(guest::Ops& g, const CmdlineEdit& edit) {
  std::vector<std::string> files = {"/etc/default/grub"};
  ASSIGN_OR_RETURN(bool dropins, g.IsDir("/etc/default/grub.d"));
  if (dropins) {
    ASSIGN_OR_RETURN(auto cfgs, g.Glob("/etc/default/grub.d/*.cfg"));
    files.insert(files.end(), cfgs.begin(), cfgs.end());
  }
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(auto lines, g.ReadLinesIfExists(file));
    std::vector<std::string> changes;
    auto edited = EditGrubDefaults(lines, edit, &changes);
    if (changes.empty()) continue;
    for (const auto& c : changes) spdlog::info("guest: kernel command line in {}: {}", file, c);
    RETURN_IF_ERROR(g.Write(file, JoinLines(edited)));
  }
  return {};
}

// After the /boot move GRUB must find its files on the new filesystem: its
// core image (BIOS: in the BIOS boot partition or after the MBR; UEFI: on the
// ESP, with the removable path too when the image boots from it) is made
// again by the guest's grub-install, and grub.cfg by update-grub (or
// grub2-mkconfig). The disk is
// the one holding /boot, as the appliance's kernel names it.
Status ReinstallBootloader(guest::Ops& g, const guest::Facts& facts, TableKind table, bool esp_mounted) {
  ASSIGN_OR_RETURN(bool pc, g.IsDir("/usr/lib/grub/i386-pc"));
  ASSIGN_OR_RETURN(bool efi, g.IsDir("/usr/lib/grub/x86_64-efi"));
  const bool bios = pc && (facts.has_bios_boot || table == TableKind::kMbr);
  const bool uefi = efi && esp_mounted;
  if (!bios && !uefi) {
    return Error(ErrorKind::kGuest,
                 "/boot moved to a new partition, but the guest has no GRUB for BIOS "
                 "(/usr/lib/grub/i386-pc with a BIOS boot partition or MBR) or for UEFI "
                 "(/usr/lib/grub/x86_64-efi with an ESP at /boot/efi) to reinstall");
  }
  if (bios) {
    RETURN_IF_ERROR(RunInGuest(g, {"sh", "-c", "grub-install --target=i386-pc \"$(grub-probe --target=disk /boot)\""}));
  }
  if (uefi) {
    RETURN_IF_ERROR(RunInGuest(g, {"grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi", "--no-nvram"}));
    ASSIGN_OR_RETURN(bool removable, g.Exists("/boot/efi/EFI/BOOT/BOOTX64.EFI"));
    if (removable) {
      RETURN_IF_ERROR(RunInGuest(
          g, {"grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi", "--no-nvram", "--removable"}));
    }
  }
  return RebuildGrubConfig(g);
}

bool Always(const GuestEditState&) { return true; }
bool SplitsBoot(const GuestEditState& s) { return !s.edits.new_boot_device.empty(); }
bool EncryptsOs(const GuestEditState& s) { return s.edits.os_volume; }
bool TouchesBootLoader(const GuestEditState& s) { return SplitsBoot(s) || EncryptsOs(s); }

Status MoveBootStep(guest::Ops& g, GuestEditState& s) {
  ASSIGN_OR_RETURN(s.new_boot_uuid, MoveBootOut(g, s.edits.new_boot_device));
  // The ESP was not mounted while /boot moved; grub-install needs it now.
  if (!s.edits.esp_device.empty()) RETURN_IF_ERROR(g.Mount(s.edits.esp_device, "/boot/efi"));
  return {};
}

Status FstabStep(guest::Ops& g, GuestEditState& s) {
  ASSIGN_OR_RETURN(auto fstab, g.ReadLines("/etc/fstab"));
  fstab = RewriteFstab(fstab, s.edits.fstab_specs);
  if (SplitsBoot(s)) {
    const auto& entries = s.facts.fstab;
    auto root = std::find_if(entries.begin(), entries.end(), [](const auto& e) { return e.file == "/"; });
    fstab = AddBootToFstab(fstab, root == entries.end() ? 0 : root->line, s.new_boot_uuid);
  }
  return g.Write("/etc/fstab", JoinLines(fstab));
}

Status CrypttabStep(guest::Ops& g, GuestEditState& s) {
  ASSIGN_OR_RETURN(auto crypttab, g.ReadLinesIfExists("/etc/crypttab"));
  return g.Write("/etc/crypttab", ComposeCrypttab(crypttab, s.edits.crypttab));
}

Status OsUnlockStep(guest::Ops& g, GuestEditState& s) { return ConfigureOsUnlock(g, s.facts, s.edits.os_header); }

Status KernelCmdlineStep(guest::Ops& g, GuestEditState& s) {
  return UpdateKernelCmdline(g,
                             {s.edits.os_partuuid, s.edits.os_lvm ? "" : std::string("/dev/mapper/") + kOsMapperName});
}

Status BootLoaderStep(guest::Ops& g, GuestEditState& s) {
  if (SplitsBoot(s)) return ReinstallBootloader(g, s.facts, s.edits.table, !s.edits.esp_device.empty());
  return RebuildGrubConfig(g);
}

Status SelinuxStep(guest::Ops& g, GuestEditState& s) { return RestoreSelinuxLabels(g, s.facts); }

}  // namespace

const std::vector<GuestEditStep>& GuestEditSteps() {
  static const std::vector<GuestEditStep> steps = {
      {"move-boot", SplitsBoot, MoveBootStep},
      {"fstab", Always, FstabStep},
      {"crypttab", Always, CrypttabStep},
      {"os-unlock", EncryptsOs, OsUnlockStep},
      {"kernel-cmdline", EncryptsOs, KernelCmdlineStep},
      {"boot-loader", TouchesBootLoader, BootLoaderStep},
      {"selinux", Always, SelinuxStep},
  };
  return steps;
}

Status ApplyGuestEdits(guest::Ops& g, const guest::Facts& facts, const GuestEdits& edits) {
  RETURN_IF_ERROR(g.Mount(facts.os.root, "/"));
  if (facts.separate_boot) RETURN_IF_ERROR(g.Mount(facts.boot_device, "/boot"));
  GuestEditState state{facts, edits, ""};
  for (const GuestEditStep& step : GuestEditSteps()) {
    if (!step.applies(state)) continue;
    spdlog::debug("guest: step {}", step.name);
    RETURN_IF_ERROR(step.run(g, state));
  }
  return g.UmountAll();
}

}  // namespace vhdcrypt
