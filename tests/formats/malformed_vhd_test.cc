// Every malformed VHD the generators make must be refused as invalid input
// with a message naming the file and the offending field.
#include <gtest/gtest.h>

#include <set>

#include "formats/image.h"
#include "tests/formats/malformed_case.h"

namespace vhdcrypt {
namespace {

TEST(MalformedVhd, AtLeastFortyDistinctCases) {
  auto cases = testing::MalformedVhdCases();
  std::set<std::string> names;
  for (const auto& c : cases) names.insert(c.name);
  EXPECT_EQ(names.size(), cases.size()) << "case names must be unique";
  EXPECT_GE(cases.size(), 40u);
}

TEST(MalformedVhd, EachIsRefusedNamingTheField) {
  for (const auto& c : testing::MalformedVhdCases()) {
    SCOPED_TRACE(c.name);
    auto img = OpenImage(std::make_unique<MemFile>(c.name + ".vhd", c.image), c.hint);
    ASSERT_FALSE(img.ok()) << "opened without error";
    EXPECT_EQ(img.error().kind(), ErrorKind::kInvalidInput);
    const std::string& m = img.error().message();
    EXPECT_EQ(m.rfind(c.name + ".vhd: ", 0), 0u) << m;
    EXPECT_NE(m.find(c.expect), std::string::npos) << "message: " << m << "\nexpected to contain: " << c.expect;
  }
}

TEST(MalformedVhd, ValidBasesOpen) {
  for (auto bytes : {testing::ValidFixedVhd(), testing::ValidDynamicVhd()}) {
    auto img = OpenImage(std::make_unique<MemFile>("base.vhd", bytes), FormatHint::kAuto);
    ASSERT_TRUE(img.ok()) << img.error().message();
  }
}

}  // namespace
}  // namespace vhdcrypt
