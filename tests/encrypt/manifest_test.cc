#include "src/outdir/manifest.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

namespace vhdcrypt {
namespace {

Manifest Sample() {
  Manifest m;
  m.tool = "vhdcrypt 0.1.0";
  m.passphrase_file = "passphrase";
  m.disks.push_back({"/in/os.vhd", std::string(64, 'a'), ContainerKind::kVhdFixed, 1 << 30, "os.vhd",
                     ContainerKind::kVhdFixed, (1 << 30) + (16 << 20), "gpt", true});
  ManifestVolume v;
  v.disk = 0;
  v.partition = 3;
  v.device = "/dev/sda3";
  v.mountpoint = "/data";
  v.filesystem = "xfs";
  v.filesystem_uuid = "u";
  v.luks_uuid = "l";
  v.mapper_name = "luks-l";
  v.sector_size = 4096;
  v.pbkdf = "argon2id";
  v.source_offset = 1 << 20;
  v.size = 64 << 20;
  v.header_offset = 1 << 20;
  v.data_offset = 17 << 20;
  v.encrypted_bytes = v.size;
  m.volumes.push_back(v);
  return m;
}

TEST(Manifest, RoundTrips) {
  const Manifest m = Sample();
  auto back = ManifestFromJson("m.json", ManifestToJson(m));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(ManifestToJson(*back), ManifestToJson(m));
  EXPECT_EQ(back->volumes[0].data_offset, 17u << 20);
  EXPECT_EQ(back->disks[0].output, "os.vhd");
}

// encrypt --no-input-hash: the digest is JSON null, read back as empty.
TEST(Manifest, UnhashedInputIsNull) {
  Manifest m = Sample();
  m.disks[0].input_sha256.clear();
  const std::string text = ManifestToJson(m);
  EXPECT_TRUE(nlohmann::json::parse(text)["disks"][0]["input_sha256"].is_null()) << text;
  auto back = ManifestFromJson("m.json", text);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->disks[0].input_sha256, "");
  EXPECT_EQ(ManifestToJson(*back), text);
}

// encrypt --skip-free-space: the volume's free space "skipped" and the bytes
// encrypted; a manifest from before the flag has neither and reads as all
// encrypted.
TEST(Manifest, FreeSpaceSkippedRoundTripsAndOldManifestsReadAsEncrypted) {
  Manifest m = Sample();
  m.volumes[0].free_space = FreeSpace::kSkipped;
  m.volumes[0].encrypted_bytes = 5 << 20;
  const std::string text = ManifestToJson(m);
  EXPECT_EQ(nlohmann::json::parse(text)["volumes"][0]["free_space"], "skipped");
  auto back = ManifestFromJson("m.json", text);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->volumes[0].free_space, FreeSpace::kSkipped);
  EXPECT_EQ(back->volumes[0].encrypted_bytes, 5u << 20);

  auto old = nlohmann::json::parse(ManifestToJson(Sample()));
  old["volumes"][0].erase("free_space");
  old["volumes"][0].erase("encrypted_bytes");
  auto read = ManifestFromJson("m.json", old.dump());
  ASSERT_TRUE(read.ok()) << read.error().message();
  EXPECT_EQ(read->volumes[0].free_space, FreeSpace::kEncrypted);
  EXPECT_EQ(read->volumes[0].encrypted_bytes, 64u << 20);
}

// deploy's instance manifest names its golden; encrypt's has no "golden" key.
TEST(Manifest, AnInstanceNamesItsGolden) {
  EXPECT_FALSE(nlohmann::json::parse(ManifestToJson(Sample())).contains("golden"));
  Manifest m = Sample();
  m.golden = ManifestGolden{std::string(64, 'b'), "/images/golden"};
  const std::string text = ManifestToJson(m);
  EXPECT_EQ(nlohmann::json::parse(text)["golden"]["dir"], "/images/golden");
  auto back = ManifestFromJson("m.json", text);
  ASSERT_TRUE(back.ok()) << back.error().message();
  ASSERT_TRUE(back->golden.has_value());
  EXPECT_EQ(back->golden->manifest_sha256, std::string(64, 'b'));
  EXPECT_EQ(ManifestToJson(*back), text);
}

TEST(Manifest, MalformedManifestsNameTheFileAndField) {
  struct Case {
    const char* name;
    std::function<void(nlohmann::json&)> edit;
    const char* expect;
  };
  const Case cases[] = {
      {"not json", nullptr, "not valid JSON"},
      {"version", [](auto& j) { j["version"] = 2; }, "manifest.version is 2, expected 1"},
      {"missing", [](auto& j) { j.erase("tool"); }, "manifest.tool is missing"},
      {"type", [](auto& j) { j["disks"][0]["input_virtual_size"] = "big"; },
       "disks[0].input_virtual_size is not an integer"},
      {"negative", [](auto& j) { j["volumes"][0]["size"] = -1; }, "volumes[0].size is negative"},
      {"disk index", [](auto& j) { j["volumes"][0]["disk"] = 3; }, "volumes[0].disk is 3, but there are 1 disks"},
      {"escape", [](auto& j) { j["disks"][0]["output"] = "../etc/passwd"; }, "is not a file name"},
      {"sector", [](auto& j) { j["volumes"][0]["sector_size"] = 1024; }, "sector_size is 1024"},
      {"past end", [](auto& j) { j["volumes"][0]["data_offset"] = 1ull << 40; }, "do not fit in os.vhd"},
      {"not array", [](auto& j) { j["volumes"] = 5; }, "manifest.volumes is not an array"},
      {"digest type", [](auto& j) { j["disks"][0]["input_sha256"] = 7; }, "disks[0].input_sha256 is not a string"},
      {"digest missing", [](auto& j) { j["disks"][0].erase("input_sha256"); }, "disks[0].input_sha256 is missing"},
      {"header kind", [](auto& j) { j["volumes"][0]["header"] = "inline"; }, "volumes[0].header is \"inline\""},
      {"container", [](auto& j) { j["disks"][0]["output_format"] = "qcow2"; },
       "disks[0].output_format is \"qcow2\", expected \"raw\", \"vhd-fixed\" or \"vhd-dynamic\""},
      {"detached without file", [](auto& j) { j["volumes"][0]["header"] = "detached"; },
       "volumes[0].header_file and header_device must name"},
      // Once narrowed silently: 2^32 read into 32 bits was disk 0, 4294971392 a 4096-byte sector.
      {"narrowed disk", [](auto& j) { j["volumes"][0]["disk"] = 4294967296ull; },
       "volumes[0].disk is 4294967296, more than 2147483647"},
      {"narrowed sector", [](auto& j) { j["volumes"][0]["sector_size"] = 4294971392ull; },
       "volumes[0].sector_size is 4294971392, more than 4294967295"},
      {"too big for 64 bits", [](auto& j) { j["volumes"][0]["size"] = 1e20; }, "volumes[0].size is not an integer"},
      {"free space kind", [](auto& j) { j["volumes"][0]["free_space"] = "zeroed"; },
       "volumes[0].free_space is \"zeroed\", expected \"encrypted\" or \"skipped\""},
      {"free space alone", [](auto& j) { j["volumes"][0].erase("encrypted_bytes"); },
       "volumes[0].encrypted_bytes is missing"},
      {"encrypted bytes alone", [](auto& j) { j["volumes"][0].erase("free_space"); },
       "volumes[0].free_space is missing"},
      {"more encrypted than the volume", [](auto& j) { j["volumes"][0]["encrypted_bytes"] = 65ull << 20; },
       "volumes[0].encrypted_bytes is 68157440 for a volume of 67108864 bytes"},
      {"encrypted, but not all of it", [](auto& j) { j["volumes"][0]["encrypted_bytes"] = 1 << 20; },
       "whose free space is encrypted"},
      {"golden not an object", [](auto& j) { j["golden"] = "x"; }, "manifest.golden is not an object"},
      {"golden digest missing",
       [](auto& j) {
         j["golden"] = {{"dir", "g"}};
       },
       "golden.manifest_sha256 is missing"},
      {"golden digest not hex",
       [](auto& j) {
         j["golden"] = {{"dir", "g"}, {"manifest_sha256", "XYZ"}};
       },
       "golden.manifest_sha256 is not 64 lowercase hex digits"},
  };
  for (const auto& c : cases) {
    std::string text = "{ not json";
    if (c.edit) {
      auto j = nlohmann::json::parse(ManifestToJson(Sample()));
      c.edit(j);
      text = j.dump();
    }
    auto m = ManifestFromJson("dir/manifest.json", text);
    ASSERT_FALSE(m.ok()) << c.name;
    EXPECT_EQ(m.error().kind(), ErrorKind::kInvalidInput) << c.name;
    EXPECT_EQ(m.error().message().rfind("dir/manifest.json: ", 0), 0u) << m.error().message();
    EXPECT_NE(m.error().message().find(c.expect), std::string::npos) << c.name << ": " << m.error().message();
  }
}

}  // namespace
}  // namespace vhdcrypt
