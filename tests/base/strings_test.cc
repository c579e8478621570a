// base/strings.h: UTF-8 validation and terminal-safe text, the two rules
// every JSON writer and every line printed from a guest go through.
#include "base/strings.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/json.h"

namespace vhdcrypt {
namespace {

TEST(Utf8, WellFormedSequencesAreKept) {
  for (const std::string& s :
       std::vector<std::string>{"", "plain ascii", "caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x94\x91 key",
                                "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf", std::string("nul\0inside", 10)}) {
    EXPECT_EQ(ValidUtf8(s), s);
  }
}

TEST(Utf8, EveryMalformedByteIsReplaced) {
  const std::string kFffd = "\xef\xbf\xbd";
  EXPECT_EQ(ValidUtf8("bad\xff.raw"), "bad" + kFffd + ".raw");
  EXPECT_EQ(ValidUtf8("bad\xff.raw", "_"), "bad_.raw");
  EXPECT_EQ(ValidUtf8("\xc0\xaf", "_"), "__");            // overlong '/'
  EXPECT_EQ(ValidUtf8("\xe0\x80\xaf", "_"), "___");       // overlong, three bytes
  EXPECT_EQ(ValidUtf8("\xed\xa0\x80", "_"), "___");       // a surrogate
  EXPECT_EQ(ValidUtf8("\xf4\x90\x80\x80", "_"), "____");  // above U+10FFFF
  EXPECT_EQ(ValidUtf8("\xf5\x80", "_"), "__");
  EXPECT_EQ(ValidUtf8("\xe2\x82", "_"), "__");  // cut short at the end
  EXPECT_EQ(ValidUtf8("\xe2\x82x", "_"), "__x");
  EXPECT_EQ(ValidUtf8("\x80x", "_"), "_x");  // a lone continuation byte
}

// nlohmann's dump() throws on such a string (and an uncaught throw aborts);
// JsonText writes it with U+FFFD instead, for every byte value.
TEST(JsonText, NeverThrowsWhateverTheBytes) {
  std::string every;
  for (int b = 0; b < 256; ++b) every += static_cast<char>(b);
  nlohmann::ordered_json j = {{"mountpoint", "/data\xff"}, {"every", every}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);
  std::string text;
  ASSERT_NO_THROW(text = JsonText(j, 2));
  const auto back = nlohmann::json::parse(text);
  EXPECT_EQ(back["mountpoint"], "/data\xef\xbf\xbd");
  EXPECT_EQ(back["every"].get<std::string>().substr(0, 128), every.substr(0, 128));
  EXPECT_EQ(JsonText(nlohmann::json{{"a", 1}}), "{\"a\":1}");
}

TEST(TerminalSafe, ControlBytesAndMalformedUtf8AreEscaped) {
  EXPECT_EQ(TerminalSafe("UUID=x /data ext4"), "UUID=x /data ext4");
  EXPECT_EQ(TerminalSafe("caf\xc3\xa9\t\xe2\x82\xac"), "caf\xc3\xa9\t\xe2\x82\xac");
  EXPECT_EQ(TerminalSafe("\x1b]0;pwned\x07red\x1b[31m"), "\\x1b]0;pwned\\x07red\\x1b[31m");
  EXPECT_EQ(TerminalSafe("a\rb\x7f"), "a\\x0db\\x7f");
  EXPECT_EQ(TerminalSafe("\xc2\x9b"
                         "31m"),
            "\\xc2\\x9b31m");  // C1 CSI, as UTF-8
  EXPECT_EQ(TerminalSafe("bad\xff"), "bad\\xff");
  EXPECT_EQ(TerminalSafe(std::string("nul\0", 4)), "nul\\x00");
  EXPECT_EQ(TerminalSafe("two\nlines\n"), "two\nlines\n");
  EXPECT_EQ(TerminalSafe("one\nline", false), "one\\x0aline");
}

}  // namespace
}  // namespace vhdcrypt
