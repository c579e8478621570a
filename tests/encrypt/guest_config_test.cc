#include "src/guest_config.h"

#include <gtest/gtest.h>

namespace vhdcrypt {
namespace {

TEST(RewriteFstab, ReplacesOnlyTheDeviceFieldOfTheGivenLines) {
  const std::vector<std::string> in = {
      "# /etc/fstab",
      "UUID=1111 /     ext4 defaults 0 1",
      "\tUUID=2222\t/data\txfs\tdefaults,nofail\t0 2  # keep me",
      "LABEL=logs /logs ext4 defaults,nofail 0 2",
  };
  auto out = RewriteFstab(in, {{3, "/dev/mapper/luks-a"}, {4, "/dev/mapper/luks-b"}, {99, "/dev/x"}});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], in[0]);
  EXPECT_EQ(out[1], in[1]);
  EXPECT_EQ(out[2], "\t/dev/mapper/luks-a\t/data\txfs\tdefaults,nofail\t0 2  # keep me");
  EXPECT_EQ(out[3], "/dev/mapper/luks-b /logs ext4 defaults,nofail 0 2");
}

TEST(ComposeCrypttab, KeepsExistingLinesAndAppendsOnePerVolume) {
  const std::string text =
      ComposeCrypttab({"# <target name> <source device> <key file> <options>", "swap /dev/sda2 /dev/urandom swap"},
                      {{MapperName("0d0e"), "0d0e", "none", "luks,nofail"}, {"luks-ff", "ff", "none", "luks,nofail"}});
  EXPECT_EQ(text,
            "# <target name> <source device> <key file> <options>\n"
            "swap /dev/sda2 /dev/urandom swap\n"
            "# data volumes encrypted by vhdcrypt\n"
            "luks-0d0e UUID=0d0e none luks,nofail\n"
            "luks-ff UUID=ff none luks,nofail\n");
}

TEST(JoinLines, EndsWithANewline) {
  EXPECT_EQ(JoinLines({"a", "b"}), "a\nb\n");
  EXPECT_EQ(JoinLines({}), "");
}

}  // namespace
}  // namespace vhdcrypt
