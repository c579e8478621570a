// The stages of `encrypt` (src/commands/encrypt_stages.h) one at a time, on
// hand-built facts and on a small ext4 disk made by mke2fs: no appliance.
// The whole run, with the appliance and boots, is tested by tests/integration.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "formats/image.h"
#include "formats/io.h"
#include "formats/partition_table.h"
#include "src/commands/encrypt_stages.h"
#include "tests/check/check_facts.h"
#include "tests/formats/temp_dir.h"

namespace vhdcrypt::encrypt {
namespace {

using vhdcrypt::testing::TempDir;

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

SecretBytes Passphrase(const std::string& text) {
  SecretBytes s(text.size());
  std::copy(text.begin(), text.end(), s.data());
  return s;
}

// A 64 MiB disk holding ext4 (4 KiB blocks) with one file, made on the host.
std::string MakeExt4Disk(const TempDir& dir) {
  std::filesystem::create_directories(dir / "tree");
  WriteText(dir / "tree/hello.txt", "hello\n");
  const std::string img = dir / "data.raw";
  const std::string cmd = "truncate -s 64M " + img + " && mkfs.ext4 -q -F -b 4096 -d " + (dir / "tree") + " " + img;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return img;
}

TEST(GateOnFindings, CheckErrorsStopTheRunUnlessForced) {
  EncryptCommandOptions o;
  o.image = "debian.raw";
  Inputs in;
  in.has_os = true;
  in.facts = check_test::Debian12();  // not in ADE's matrix: an error under --policy azure
  o.rules = {Policy::kAzure, VolumeType::kData};
  Status refused = GateOnFindings(o, in);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind(), ErrorKind::kFindings);
  EXPECT_NE(refused.error().message().find("debian.raw: check found errors"), std::string::npos);
  o.force = true;
  EXPECT_TRUE(GateOnFindings(o, in).ok());
  o.force = false;
  o.rules.policy = Policy::kGeneric;  // what vhdcrypt itself needs: Debian 12 passes
  EXPECT_TRUE(GateOnFindings(o, in).ok());
  in.has_os = false;  // data disks alone: no rules apply
  o.rules.policy = Policy::kAzure;
  EXPECT_TRUE(GateOnFindings(o, in).ok());
}

TEST(KeyOutputs, MadeUnderTemporaryNamesAndCommittedTogether) {
  TempDir dir;
  EncryptCommandOptions o;
  o.output_dir = dir.path();
  const SecretBytes pass = Passphrase("correct horse battery staple");
  {
    auto keys = CreateKeyOutputs(o, pass, {}, {}, false);
    ASSERT_TRUE(keys.ok()) << keys.error().message();
    EXPECT_TRUE(keys->passphrase && keys->secret);
    EXPECT_FALSE(keys->wrapped || keys->key_volume || keys->recovery);
    EXPECT_FALSE(std::filesystem::exists(dir / "passphrase"));  // not before the commit
  }
  EXPECT_EQ(dir.EntryCount(), 0u);  // dropped uncommitted: no temporary left
  const SecretBytes recovery = Passphrase("cbdefghi-jklnrtuv");
  auto keys = CreateKeyOutputs(o, pass, {}, recovery, true);
  ASSERT_TRUE(keys.ok()) << keys.error().message();
  ASSERT_TRUE(CommitAll(keys->Files()).ok());
  EXPECT_EQ(Mode(dir / "passphrase"), 0600u);
  EXPECT_EQ(Mode(dir / "recovery-key"), 0600u);
  std::ifstream rk(dir / "recovery-key", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(rk), {}), "cbdefghi-jklnrtuv");
  EXPECT_NE(keys->Describe(o).find("recovery key in"), std::string::npos);
  EXPECT_EQ(Mode(dir / "keyvault-secret.json"), 0600u);
  // The key volume as Azure's: a fixed VHD of 8 MiB whose MBR has one FAT
  // partition from 1 MiB to the end (the filesystem is made in the appliance).
  auto bek = OpenReadOnly(dir / "bek.vhd");
  ASSERT_TRUE(bek.ok()) << bek.error().message();
  auto image = OpenImage(std::move(*bek), FormatHint::kAuto);
  ASSERT_TRUE(image.ok()) << image.error().message();
  EXPECT_EQ((*image)->kind(), ContainerKind::kVhdFixed);
  EXPECT_EQ((*image)->virtual_size(), 8u << 20);
  auto table = ReadPartitionTable(**image);
  ASSERT_TRUE(table.ok()) << table.error().message();
  EXPECT_EQ(table->kind, TableKind::kMbr);
  ASSERT_EQ(table->partitions.size(), 1u);
  EXPECT_EQ(table->partitions[0].number, 1u);
  EXPECT_EQ(table->partitions[0].type, "0x0c");
  EXPECT_EQ(table->partitions[0].start, 1u << 20);
  EXPECT_EQ(table->partitions[0].end(), 8u << 20);
  std::ifstream in(dir / "passphrase", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "correct horse battery staple");
  EXPECT_NE(keys->Describe(o).find("key volume"), std::string::npos);
}

TEST(KeyOutputs, TheUsersOwnPassphraseIsNeverCopied) {
  TempDir dir;
  EncryptCommandOptions o;
  o.output_dir = dir.path();
  o.key_file = dir / "mine";
  auto keys = CreateKeyOutputs(o, Passphrase("mine"), {}, {}, false);
  ASSERT_TRUE(keys.ok());
  EXPECT_FALSE(keys->passphrase || keys->secret || keys->wrapped || keys->key_volume);
  ASSERT_TRUE(CommitAll(keys->Files()).ok());
  EXPECT_EQ(dir.EntryCount(), 0u);
}

TEST(InputHasher, OneSha256PerInputOrNoneWhenSkipped) {
  TempDir dir;
  WriteText(dir / "a", "abc");
  WriteText(dir / "b", "");
  InputHasher hasher({dir / "a", dir / "b"}, false);
  auto sums = hasher.Get();
  ASSERT_TRUE(sums.ok()) << sums.error().message();
  EXPECT_EQ(*sums, (std::vector<std::string>{"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                                             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}));
  InputHasher skipped({dir / "a", dir / "b"}, true);
  auto none = skipped.Get();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, (std::vector<std::string>{"", ""}));
  InputHasher missing({dir / "gone"}, false);
  EXPECT_FALSE(missing.Get().ok());
}

// ReadInputs -> PlanVolumes -> PlanDisks -> MakeVolumeKeys -> MakeManifest
// for a data disk (--data-only: superblock probes instead of the appliance).
TEST(PlanStages, ADataOnlyDiskFromProbeToManifest) {
  TempDir dir;
  EncryptCommandOptions o;
  o.image = MakeExt4Disk(dir);
  o.output_dir = dir / "out";
  o.data_only = true;
  o.luks.pbkdf = Pbkdf::kPbkdf2;
  auto in = ReadInputs(o);
  ASSERT_TRUE(in.ok()) << in.error().message();
  EXPECT_FALSE(in->has_os);
  ASSERT_TRUE(GateOnFindings(o, *in).ok());
  auto volumes = PlanVolumes(o, *in);
  ASSERT_TRUE(volumes.ok()) << volumes.error().message();
  ASSERT_EQ(volumes->size(), 1u);
  EXPECT_FALSE((*volumes)[0].os);
  auto plan = PlanDisks(o, *in, std::move(*volumes));
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  ASSERT_EQ(plan->disks.size(), 1u);
  EXPECT_EQ(plan->disks[0].out_name, "data.raw");
  EXPECT_EQ(plan->disks[0].layout.out_size, (64u << 20) + kHeaderBytes);  // the header in front of the disk
  const ManifestVolume& v = plan->volumes[0].m;
  EXPECT_EQ(v.filesystem, "ext4");
  EXPECT_EQ(v.sector_size, 4096u);
  EXPECT_EQ(v.size, 64u << 20);
  EXPECT_EQ(v.data_offset, kHeaderBytes);

  auto keys = MakeVolumeKeys(*plan);
  ASSERT_TRUE(keys.ok()) << keys.error().message();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].size(), 64u);  // aes-xts-plain64 with a 512-bit key
  EXPECT_EQ(plan->volumes[0].m.luks_uuid.size(), 36u);
  EXPECT_EQ(plan->volumes[0].m.mapper_name, "luks-" + plan->volumes[0].m.luks_uuid);

  KeyOutputs no_keys;
  const Manifest m = MakeManifest(*in, *plan, no_keys, {"digest"});
  ASSERT_EQ(m.disks.size(), 1u);
  EXPECT_EQ(m.disks[0].input_sha256, "digest");
  EXPECT_EQ(m.passphrase_file, "");
  ASSERT_EQ(m.volumes.size(), 1u);
  EXPECT_EQ(m.volumes[0].luks_uuid, plan->volumes[0].m.luks_uuid);
}

TEST(PlanStages, AnOsVolumeNeedsAnOs) {
  TempDir dir;
  EncryptCommandOptions o;
  o.image = MakeExt4Disk(dir);
  o.data_only = true;
  auto in = ReadInputs(o);
  ASSERT_TRUE(in.ok()) << in.error().message();
  o.rules.volume_type = VolumeType::kAll;
  auto volumes = PlanVolumes(o, *in);
  ASSERT_FALSE(volumes.ok());
  EXPECT_NE(volumes.error().message().find("no operating system found"), std::string::npos);
}

// Each volume's header options: the run's costs, the manifest's sector size,
// UUID and placement, and the label only on the OS volume (by mountpoint,
// whatever the header placement), as encrypt and deploy both format them.
TEST(VolumeLuksOptions, TheOsVolumeAloneIsLabelled) {
  LuksOptions run;
  run.pbkdf = Pbkdf::kPbkdf2;
  run.iterations = 1000;
  ManifestVolume data;
  data.mountpoint = "/data1";
  data.sector_size = 4096;
  data.luks_uuid = "0d6c3e5c-1b0a-4c8e-9a57-3f1d9f7a2b10";
  const LuksOptions d = VolumeLuksOptions(run, data);
  EXPECT_EQ(d.label, "");
  EXPECT_EQ(d.sector_size, 4096u);
  EXPECT_EQ(d.uuid, data.luks_uuid);
  EXPECT_FALSE(d.detached);
  EXPECT_EQ(d.pbkdf, Pbkdf::kPbkdf2);
  EXPECT_EQ(d.iterations, 1000u);
  ManifestVolume os = data;
  os.mountpoint = "/";
  for (HeaderPlacement placement : {HeaderPlacement::kAttached, HeaderPlacement::kDetached}) {
    os.header = placement;
    const LuksOptions o = VolumeLuksOptions(run, os);
    EXPECT_EQ(o.label, kOsVolumeLabel);
    EXPECT_EQ(o.detached, placement == HeaderPlacement::kDetached);
  }
}

}  // namespace
}  // namespace vhdcrypt::encrypt
