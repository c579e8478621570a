// Every change encrypt makes inside a guest, as ordered steps over the narrow
// guest::Ops interface (docs/guest-changes.md lists them for users):
//
//   move-boot       / holds /boot: a new ext4 /boot partition takes its files
//   fstab           encrypted volumes mount from /dev/mapper; the new /boot
//   crypttab        one line per encrypted volume
//   os-unlock       a detached header on /boot and the initramfs tool
//                   (initramfs-tools hook and keyscript, or a dracut
//                   configuration) taught to unlock the OS volume; the
//                   guest's own tool rebuilds every initramfs
//   kernel-cmdline  root= and the options that named the plaintext root
//   boot-loader     grub-install again after a /boot move (BIOS, UEFI or
//                   both), grub.cfg made again by the guest's own tool
//   selinux         labels of what was written restored (or /.autorelabel)
//
// Each step runs only when it applies; the steps read what they need from
// guest::Facts (the inspection) and GuestEdits (what encrypt planned).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/partition_table.h"
#include "guestfs/facts.h"
#include "guestfs/ops.h"
#include "src/guest/guest_config.h"

namespace vhdcrypt {

struct GuestEdits {
  std::map<int, std::string> fstab_specs;  // 1-based fstab line -> its new device field
  std::vector<CrypttabVolume> crypttab;    // lines to add, the OS volume's first
  // The OS volume is encrypted: the initramfs and the boot loader learn to
  // unlock it. false: it stays plaintext (no step touches either).
  bool os_volume = false;
  // Its detached LUKS2 header, for /boot; nullptr when the header is attached.
  const std::vector<uint8_t>* os_header = nullptr;
  std::string os_partuuid;             // the OS volume's PARTUUID
  bool os_lvm = false;                 // / is an LV on the OS volume: root= keeps naming it
  std::string new_boot_device;         // an empty partition that becomes /boot; "" when /boot is separate already
  std::string esp_device;              // what fstab mounts at /boot/efi, or ""
  TableKind table = TableKind::kNone;  // the OS disk's partition table (for a BIOS grub-install)
};

// What the steps share while they run.
struct GuestEditState {
  const guest::Facts& facts;
  const GuestEdits& edits;
  std::string new_boot_uuid;  // set by move-boot
};

struct GuestEditStep {
  const char* name;
  bool (*applies)(const GuestEditState& state);
  Status (*run)(guest::Ops& g, GuestEditState& state);
};

// The steps, in the order they run.
const std::vector<GuestEditStep>& GuestEditSteps();

// Mounts the guest's / (and its /boot when separate), runs every step that
// applies, and unmounts. The guest's drives must be writable.
Status ApplyGuestEdits(guest::Ops& g, const guest::Facts& facts, const GuestEdits& edits);

}  // namespace vhdcrypt
