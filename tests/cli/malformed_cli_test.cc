// The real binary on every malformed input: exit code 3, a message naming the
// file and the field, no crash (this binary is built with ASan/UBSan in
// scripts/test), and the input byte-identical afterwards.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/cli/run.h"
#include "tests/formats/malformed_case.h"
#include "tests/formats/malformed_ptables.h"
#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

const char* HintName(FormatHint h) {
  switch (h) {
    case FormatHint::kAuto: return "auto";
    case FormatHint::kVhd: return "vhd";
    case FormatHint::kRaw: return "raw";
  }
  return "auto";
}

// container_level: the container itself is broken, so convert must refuse
// it too (a broken partition table is still a copyable disk).
void Check(const testing::MalformedCase& c, bool container_level) {
  testing::TempDir dir;
  const std::string path = dir / (c.name + ".img");
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(c.image.data()), static_cast<std::streamsize>(c.image.size()));
  }
  const std::string before = testing::ReadText(path);
  auto r = testing::RunVhdcrypt({"info", "--format", HintName(c.hint), path});
  EXPECT_EQ(r.signal, 0) << r.err;
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find(path + ": "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(c.expect), std::string::npos) << "stderr: " << r.err << "\nexpected: " << c.expect;
  EXPECT_EQ(r.err.find("AddressSanitizer"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;

  if (container_level) {
    // convert must refuse too, and leave nothing behind.
    auto conv =
        testing::RunVhdcrypt({"convert", "--format", HintName(c.hint), path, dir / "out.vhd", "--to", "vhd-fixed"});
    EXPECT_EQ(conv.exit_code, 3) << conv.err;
    EXPECT_EQ(dir.EntryCount(), 1u) << "convert left files behind";
  }
  // encrypt refuses before writing anything (no passphrase, no temporaries).
  const std::string out_dir = dir / "enc";
  ASSERT_EQ(::mkdir(out_dir.c_str(), 0700), 0);
  auto enc = testing::RunVhdcrypt(
      {"encrypt", "--data-only", "--format", HintName(c.hint), path, "--output-dir", out_dir, "--progress", "none"});
  EXPECT_EQ(enc.exit_code, 3) << enc.err;
  EXPECT_NE(enc.err.find(c.expect), std::string::npos) << "stderr: " << enc.err << "\nexpected: " << c.expect;
  EXPECT_EQ(enc.err.find("AddressSanitizer"), std::string::npos) << enc.err;
  EXPECT_TRUE(std::filesystem::is_empty(out_dir)) << "encrypt left files behind";
  EXPECT_EQ(testing::ReadText(path), before) << "input was modified";
}

TEST(MalformedCli, VhdCases) {
  for (const auto& c : testing::MalformedVhdCases()) {
    SCOPED_TRACE(c.name);
    Check(c, true);
  }
}

TEST(MalformedCli, PartitionTableCases) {
  auto cases = testing::MalformedPartitionTableCases();
  EXPECT_GE(cases.size(), 20u);
  for (auto c : cases) {
    SCOPED_TRACE(c.name);
    c.hint = FormatHint::kRaw;
    Check(c, false);
  }
}

}  // namespace
}  // namespace vhdcrypt
