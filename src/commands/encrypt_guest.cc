// encrypt, stage 4: the guest (encrypt_stages.h). What to change is planned
// here from the volumes; the changes themselves are guest/os_edits.h's steps,
// made in one appliance over the OS disk's output.
#include "guestfs/handle.h"
#include "guestfs/inspect.h"
#include "src/check/classify.h"
#include "src/commands/encrypt_stages.h"
#include "src/guest/key_volume.h"
#include "src/guest/os_edits.h"

namespace vhdcrypt::encrypt {
namespace {

// The ESP's appliance device when fstab mounts one at /boot/efi, else "".
std::string EspDevice(const guest::Facts& facts) {
  for (const auto& x : rules::Classify(facts, VolumeType::kOs)) {
    if (x.mount == "/boot/efi" && x.r.fs != nullptr) return x.r.fs->device;
  }
  return "";
}

// fstab lines of the encrypted volumes name their /dev/mapper devices;
// crypttab opens them at boot, the data volumes with the passphrase from the
// key volume, the OS volume in the initramfs.
GuestEdits PlanGuestEdits(const Inputs& in, const Plan& plan, const std::vector<uint8_t>* os_header) {
  GuestEdits e;
  OsVolumeRef os;
  for (const Volume& v : plan.volumes) {
    if (v.choice.fstab == nullptr) continue;
    if (v.os) {
      if (!v.lvm_pv) e.fstab_specs[v.choice.fstab->line] = std::string("/dev/mapper/") + kOsMapperName;
      e.os_volume = true;
      e.os_partuuid = v.partuuid;
      e.os_lvm = v.lvm_pv;
      os = {v.detached(), v.partuuid, v.m.luks_uuid};
      continue;
    }
    e.fstab_specs[v.choice.fstab->line] = "/dev/mapper/" + v.m.mapper_name;
    e.crypttab.push_back({v.m.mapper_name, v.m.luks_uuid, DataVolumeKeyField(), "luks,nofail"});
  }
  if (e.os_volume) {
    e.crypttab.insert(e.crypttab.begin(),
                      in.facts.initramfs_tool == "dracut" ? OsCrypttabVolumeDracut(os) : OsCrypttabVolume(os));
  }
  e.os_header = os_header;
  if (plan.split_boot) e.new_boot_device = plan.boot_device;
  e.esp_device = EspDevice(in.facts);
  e.table = plan.disks[0].table.kind;
  return e;
}

}  // namespace

Status EditGuest(const Inputs& in, const Plan& plan, const std::vector<uint8_t>* os_header, OutputFile* key_volume,
                 const SecretBytes& passphrase) {
  const GuestEdits edits = PlanGuestEdits(in, plan, os_header);
  if (edits.crypttab.empty()) return {};
  const Disk& os_disk = plan.disks[0];
  std::vector<guest::Drive> drives = {{os_disk.target().temp_path(), guest::GuestfsFormat(os_disk.work_kind), false}};
  if (key_volume != nullptr) drives.push_back({key_volume->temp_path(), "vpc", false});
  ASSIGN_OR_RETURN(auto g, guest::Handle::Launch(drives, /*sensitive=*/true));
  if (key_volume != nullptr) RETURN_IF_ERROR(FillKeyVolume(*g, guest::ApplianceDevice(1), passphrase));
  RETURN_IF_ERROR(ApplyGuestEdits(*g, in.facts, edits));
  return g->Shutdown();
}

}  // namespace vhdcrypt::encrypt
