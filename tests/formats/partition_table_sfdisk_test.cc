// Agreement with util-linux's sfdisk, the peer implementation: tables sfdisk
// writes must read back as sfdisk --json describes them, and tables we write
// must pass sfdisk --verify and be described by sfdisk as we laid them out.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "formats/gpt.h"
#include "formats/image.h"
#include "formats/io.h"
#include "formats/mbr.h"
#include "formats/partition_table.h"
#include "tests/formats/temp_dir.h"
#include "tests/tools.h"

namespace vhdcrypt {
namespace {

using nlohmann::json;
constexpr uint64_t kMiB = 1024 * 1024;

std::string Sfdisk() { return testing::FindTool("sfdisk"); }
using testing::Shell;

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// sfdisk's rendering of GPT attribute bits (libfdisk gpt.c).
std::string AttrsText(uint64_t a) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : " ") + s; };
  if (a & 1) add("RequiredPartition");
  if (a & 2) add("NoBlockIOProtocol");
  if (a & 4) add("LegacyBIOSBootable");
  std::string guid_bits;
  for (int bit = 48; bit < 64; ++bit) {
    if (a >> bit & 1) guid_bits += (guid_bits.empty() ? "" : ",") + std::to_string(bit);
  }
  if (!guid_bits.empty()) add("GUID:" + guid_bits);
  return out;
}

Result<PartitionTable> ReadFile(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, OpenReadOnly(path));
  ASSIGN_OR_RETURN(auto image, RawImage::Open(std::move(file)));
  return ReadPartitionTable(*image);
}

void WriteDisk(const std::string& path, uint64_t size, const std::vector<DiskWrite>& writes) {
  { std::ofstream create(path, std::ios::binary); }
  std::filesystem::resize_file(path, size);
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  for (const auto& w : writes) {
    f.seekp(static_cast<std::streamoff>(w.offset));
    f.write(reinterpret_cast<const char*>(w.bytes.data()), static_cast<std::streamsize>(w.bytes.size()));
  }
  ASSERT_TRUE(f.good());
}

// Partitions in sfdisk's JSON, keyed by the number at the end of "node".
std::map<uint32_t, json> SfdiskPartitions(const std::string& sfdisk, const std::string& path, json* table) {
  auto r = Shell(sfdisk + " --json " + Quote(path) + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  *table = json::parse(r.out)["partitiontable"];
  std::map<uint32_t, json> out;
  for (const auto& p : (*table)["partitions"]) {
    const std::string node = p["node"];
    out[static_cast<uint32_t>(std::stoul(node.substr(path.size())))] = p;
  }
  return out;
}

void ExpectSameAsSfdisk(const std::string& sfdisk, const std::string& path, const PartitionTable& ours) {
  json table;
  auto theirs = SfdiskPartitions(sfdisk, path, &table);
  EXPECT_EQ(table["label"], ours.kind == TableKind::kGpt ? "gpt" : "dos");
  EXPECT_EQ(table["id"], ours.disk_id);
  ASSERT_EQ(theirs.size(), ours.partitions.size());
  for (const Partition& p : ours.partitions) {
    SCOPED_TRACE("partition " + std::to_string(p.number));
    ASSERT_TRUE(theirs.count(p.number));
    const json& t = theirs[p.number];
    EXPECT_EQ(t["start"].get<uint64_t>() * 512, p.start);
    EXPECT_EQ(t["size"].get<uint64_t>() * 512, p.size);
    if (ours.kind == TableKind::kGpt) {
      EXPECT_EQ(t["type"], p.type);
      EXPECT_EQ(t["uuid"], p.uuid);
      EXPECT_EQ(t.value("name", ""), p.name);
      EXPECT_EQ(t.value("attrs", ""), AttrsText(p.attributes));
    } else {
      EXPECT_EQ(std::stoul(t["type"].get<std::string>(), nullptr, 16), std::stoul(p.type, nullptr, 16));
      EXPECT_EQ(t.value("bootable", false), p.bootable);
    }
  }
}

void ExpectSfdiskVerifies(const std::string& sfdisk, const std::string& path) {
  auto r = Shell(sfdisk + " --verify " + Quote(path) + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("No errors detected"), std::string::npos) << r.out;
}

class SfdiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sfdisk_ = Sfdisk();
    if (sfdisk_.empty()) GTEST_SKIP() << "sfdisk (util-linux) not installed";
  }
  // Partitions a fresh sparse file of `size` bytes with an sfdisk script.
  std::string MakeWithSfdisk(const std::string& name, uint64_t size, const std::string& script) {
    const std::string path = dir_ / name;
    const std::string script_path = dir_ / (name + ".sfdisk");
    std::ofstream(script_path) << script;
    { std::ofstream create(path, std::ios::binary); }
    std::filesystem::resize_file(path, size);
    auto r =
        Shell(sfdisk_ + " --quiet --no-reread --no-tell-kernel " + Quote(path) + " < " + Quote(script_path) + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return path;
  }
  std::string sfdisk_;
  testing::TempDir dir_;
};

TEST_F(SfdiskTest, ReadsGptWrittenBySfdisk) {
  const std::string path = MakeWithSfdisk("gpt.img", 64 * kMiB,
                                          "label: gpt\n"
                                          "label-id: 6E1A3C4B-7F0D-4E2A-9C55-0123456789AB\n"
                                          "start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, "
                                          "name=\"BIOS boot\", attrs=\"LegacyBIOSBootable\"\n"
                                          "size=20MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, "
                                          "name=\"EFI System Partition\"\n"
                                          "size=8MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name=\"swap space\", "
                                          "uuid=11111111-2222-4333-8444-555555555555\n"
                                          "size=4MiB, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, "
                                          "attrs=\"RequiredPartition GUID:60,63\"\n"
                                          "type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"données racine\"\n");
  auto ours = ReadFile(path);
  ASSERT_TRUE(ours.ok()) << ours.error().message();
  EXPECT_EQ(ours->kind, TableKind::kGpt);
  EXPECT_EQ(ours->partitions.size(), 5u);
  ExpectSameAsSfdisk(sfdisk_, path, *ours);
  EXPECT_EQ(ours->partitions[2].uuid, "11111111-2222-4333-8444-555555555555");
  EXPECT_EQ(ours->partitions[4].name, "données racine");
  EXPECT_EQ(ours->partitions[4].type_name, "Linux filesystem");
}

TEST_F(SfdiskTest, ReadsMbrWithLogicalsWrittenBySfdisk) {
  const std::string path = MakeWithSfdisk("mbr.img", 64 * kMiB,
                                          "label: dos\n"
                                          "label-id: 0x0badcafe\n"
                                          "start=2048, size=16MiB, type=83, bootable\n"
                                          "size=4MiB, type=c\n"
                                          "type=5\n"  // the rest: logicals go in here
                                          "size=8MiB, type=82\n"
                                          "type=8e\n");
  auto ours = ReadFile(path);
  ASSERT_TRUE(ours.ok()) << ours.error().message();
  EXPECT_EQ(ours->kind, TableKind::kMbr);
  EXPECT_EQ(ours->disk_id, "0x0badcafe");
  ASSERT_EQ(ours->partitions.size(), 5u);  // 1, 2, 3 (extended), 5, 6
  ExpectSameAsSfdisk(sfdisk_, path, *ours);
  EXPECT_EQ(ours->partitions[3].number, 5u);
  EXPECT_EQ(ours->partitions[4].number, 6u);
  EXPECT_EQ(ours->partitions[4].type_name, "Linux LVM");
}

TEST_F(SfdiskTest, SfdiskReadsOurGpt) {
  const uint64_t size = 48 * kMiB;
  const uint64_t n = size / 512;
  GptLayout layout;
  layout.disk_guid = RandomGuid();
  auto spec = [](uint32_t number, const char* type, uint64_t first, uint64_t last, const char* name, uint64_t attrs) {
    GptPartitionSpec s;
    s.number = number;
    s.type = GuidFromText(type);
    s.unique = RandomGuid();
    s.first_lba = first;
    s.last_lba = last;
    s.name = name;
    s.attributes = attrs;
    return s;
  };
  layout.partitions = {
      spec(1, kGptTypeBiosBoot, 2048, 4095, "bios_grub", 1ull << 2),
      spec(2, kGptTypeEfiSystem, 4096, 53247, "EFI System Partition", 0),
      spec(4, kGptTypeLinuxFilesystem, 65536, GptLastUsableLba(n), "rootfs ☃", 1ull << 63 | 1ull << 48),
  };
  auto writes = EncodeGpt(layout, size);
  ASSERT_TRUE(writes.ok()) << writes.error().message();
  const std::string path = dir_ / "ours.img";
  WriteDisk(path, size, *writes);
  ExpectSfdiskVerifies(sfdisk_, path);

  json table;
  auto theirs = SfdiskPartitions(sfdisk_, path, &table);
  EXPECT_EQ(table["label"], "gpt");
  EXPECT_EQ(table["id"], layout.disk_guid.ToString());
  EXPECT_EQ(table["firstlba"], kGptFirstUsableLba);
  EXPECT_EQ(table["lastlba"], GptLastUsableLba(n));
  ASSERT_EQ(theirs.size(), layout.partitions.size());
  for (const auto& s : layout.partitions) {
    SCOPED_TRACE(s.number);
    ASSERT_TRUE(theirs.count(s.number));
    const json& t = theirs[s.number];
    EXPECT_EQ(t["start"], s.first_lba);
    EXPECT_EQ(t["size"], s.last_lba - s.first_lba + 1);
    EXPECT_EQ(t["type"], s.type.ToString());
    EXPECT_EQ(t["uuid"], s.unique.ToString());
    EXPECT_EQ(t["name"], s.name);
    EXPECT_EQ(t.value("attrs", ""), AttrsText(s.attributes));
  }
}

TEST_F(SfdiskTest, SfdiskReadsOurMbr) {
  const uint64_t size = 32 * kMiB;
  MbrLayout layout;
  layout.disk_signature = 0x1234abcd;
  layout.partitions = {{1, 0x0c, false, 2048, 4096}, {2, 0x83, true, 6144, 32768}, {4, 0x82, false, 40960, 20480}};
  auto writes = EncodeMbr(layout, size);
  ASSERT_TRUE(writes.ok()) << writes.error().message();
  const std::string path = dir_ / "ours-mbr.img";
  WriteDisk(path, size, *writes);
  ExpectSfdiskVerifies(sfdisk_, path);

  auto ours = ReadFile(path);
  ASSERT_TRUE(ours.ok()) << ours.error().message();
  ExpectSameAsSfdisk(sfdisk_, path, *ours);  // also checks the partitions against sfdisk's view
  ASSERT_EQ(ours->partitions.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ours->partitions[i].number, layout.partitions[i].number);
    EXPECT_EQ(ours->partitions[i].start, uint64_t{layout.partitions[i].starting_lba} * 512);
  }
}

// sfdisk must also notice damage we reject, or the checks above prove little.
TEST_F(SfdiskTest, VerifyCatchesABrokenBackup) {
  GptLayout layout;
  layout.disk_guid = RandomGuid();
  auto writes = EncodeGpt(layout, 8 * kMiB);
  ASSERT_TRUE(writes.ok());
  (*writes)[2].bytes[(*writes)[2].bytes.size() - 512 + 24] ^= 1;  // backup my_lba, CRC now wrong
  const std::string path = dir_ / "broken.img";
  WriteDisk(path, 8 * kMiB, *writes);
  // sfdisk falls back to the primary (and still says "No errors detected"),
  // but it does see the damage; we refuse the disk outright.
  auto r = Shell(sfdisk_ + " --verify " + Quote(path) + " 2>&1");
  EXPECT_NE(r.out.find("backup GPT table is corrupt"), std::string::npos) << r.out;
  auto ours = ReadFile(path);
  ASSERT_FALSE(ours.ok());
  EXPECT_NE(ours.error().message().find("backup GPT header"), std::string::npos) << ours.error().message();
}

}  // namespace
}  // namespace vhdcrypt
