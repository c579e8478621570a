// The command line as a user meets it: help, exit codes, info and convert.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "formats/vhd.h"
#include "tests/cli/run.h"
#include "tests/formats/malformed_case.h"
#include "tests/formats/temp_dir.h"

namespace vhdcrypt {
namespace {

using testing::RunVhdcrypt;

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

TEST(Cli, HelpListsSubcommandsAndExitCodes) {
  auto r = RunVhdcrypt({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* s : {"info", "convert", "Exit codes:", "3  invalid or malformed input", "4  I/O error"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  }
}

// The subcommands the top-level help lists.
std::vector<std::string> SubcommandNames() {
  auto top = RunVhdcrypt({"--help"});
  std::vector<std::string> names;
  auto at = top.out.find("Subcommands:");
  if (top.exit_code != 0 || at == std::string::npos) return names;
  std::istringstream lines(top.out.substr(at));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line) && !line.empty()) {
    std::istringstream words(line);
    std::string name;
    words >> name;
    names.push_back(name);
  }
  return names;
}

// Each subcommand's name and its --help output, which must exit 0.
std::vector<std::pair<std::string, std::string>> SubcommandHelps() {
  std::vector<std::pair<std::string, std::string>> helps;
  for (const auto& name : SubcommandNames()) {
    auto r = RunVhdcrypt({name, "--help"});
    EXPECT_EQ(r.exit_code, 0) << name << " --help";
    helps.emplace_back(name, r.out);
  }
  EXPECT_GE(helps.size(), 5u);
  return helps;
}

// "--name" when `text` holds a long option at `at` (lower case, digits, '-'),
// else "".
std::string LongOptionAt(const std::string& text, size_t at) {
  if (text.compare(at, 2, "--") != 0) return "";
  size_t end = at + 2;
  while (end < text.size() && (std::islower(static_cast<unsigned char>(text[end])) ||
                               std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '-')) {
    ++end;
  }
  return end > at + 2 ? text.substr(at, end - at) : "";
}

// The long options of a --help text's "Options:" section, --help left out.
std::set<std::string> HelpOptions(const std::string& help) {
  std::set<std::string> options;
  auto at = help.find("\nOptions:\n");
  if (at == std::string::npos) return options;
  std::istringstream lines(help.substr(at + 10));
  std::string line;
  while (std::getline(lines, line) && !line.empty()) {
    // "  --name ..." or "  -x,--name ..."; continuation lines start deeper.
    if (line.compare(0, 2, "  ") != 0) continue;
    size_t col = 2;
    if (line.size() > 5 && line[2] == '-' && line[3] != '-' && line[4] == ',') col = 5;
    auto option = LongOptionAt(line, col);
    if (!option.empty() && option != "--help") options.insert(option);
  }
  return options;
}

// The options a docs page's "## Options" section has a table row for
// ("| `--name ..." ), up to the next "## " heading.
std::set<std::string> DocsOptions(const std::string& page) {
  std::set<std::string> options;
  auto at = page.find("\n## Options\n");
  if (at == std::string::npos) return options;
  auto end = page.find("\n## ", at + 1);
  std::istringstream lines(page.substr(at, end == std::string::npos ? std::string::npos : end - at));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.compare(0, 3, "| `") != 0) continue;
    auto option = LongOptionAt(line, 3);
    if (!option.empty()) options.insert(option);
  }
  return options;
}

// Each subcommand has its page in docs/, whose options table lists exactly
// the options its --help has: an option added, renamed or dropped on one side
// only fails here.
TEST(Cli, EverySubcommandsDocsPageListsExactlyItsOptions) {
  for (const auto& [name, help] : SubcommandHelps()) {
    auto from_help = HelpOptions(help);
    EXPECT_FALSE(from_help.empty()) << name << " --help lists no option:\n" << help;
    std::string path = std::string(VHDCRYPT_SOURCE_DIR) + "/docs/" + name + ".md";
    ASSERT_TRUE(std::filesystem::exists(path)) << "no docs page " << path;
    auto from_docs = DocsOptions(testing::ReadText(path));
    for (const auto& o : from_help) {
      EXPECT_TRUE(from_docs.count(o)) << path << ": its Options table lacks " << o << " (in " << name << " --help)";
    }
    for (const auto& o : from_docs) {
      EXPECT_TRUE(from_help.count(o)) << path << ": its Options table names " << o << ", which " << name
                                      << " --help does not have";
    }
  }
}

// An option's names to choose from: "{a, b}" after it in --help, "a\|b" in
// a docs table row; empty for an option that takes no fixed names.
std::set<std::string> ChoicesAfter(const std::string& text, const std::string& option, bool in_docs) {
  std::set<std::string> names;
  const auto at = text.find(option + (in_docs ? " " : " {"));
  if (at == std::string::npos) return names;
  const size_t from = at + option.size() + (in_docs ? 1 : 2);
  const std::string list = text.substr(from, text.find(in_docs ? '`' : '}', from) - from);
  const std::string sep = in_docs ? "\\|" : ", ";
  if (in_docs && list.find(sep) == std::string::npos) return names;
  size_t start = 0;
  for (size_t end; (end = list.find(sep, start)) != std::string::npos; start = end + sep.size()) {
    names.insert(list.substr(start, end - start));
  }
  names.insert(list.substr(start));
  return names;
}

// Options with names to choose from (--to, --format, --pbkdf, ...) offer the
// same names in --help and in their docs page.
TEST(Cli, EveryChoiceOptionOffersTheSameNamesInItsDocsPage) {
  size_t compared = 0;
  for (const auto& [name, help] : SubcommandHelps()) {
    const std::string page = testing::ReadText(std::string(VHDCRYPT_SOURCE_DIR) + "/docs/" + name + ".md");
    for (const auto& option : HelpOptions(help)) {
      const auto from_help = ChoicesAfter(help, option, false);
      if (from_help.empty()) continue;
      const auto row = page.find("| `" + option + " ");
      ASSERT_NE(row, std::string::npos) << name << ": docs lack " << option;
      EXPECT_EQ(ChoicesAfter(page.substr(row, page.find('\n', row) - row), option, true), from_help)
          << "docs/" << name << ".md, " << option;
      ++compared;
    }
  }
  EXPECT_GE(compared, 15u);
}

// Every subcommand the top-level help lists has a man-page-like help: what
// it does, examples of itself, the exit codes.
TEST(Cli, EverySubcommandHelpDescribesItselfWithExamples) {
  for (const auto& [name, help] : SubcommandHelps()) {
    for (const std::string& want : {std::string("Description:\n  "), "Examples:\n  vhdcrypt " + name + " ",
                                    std::string("Exit codes:"), std::string("Environment:")}) {
      EXPECT_NE(help.find(want), std::string::npos) << name << " --help lacks '" << want << "':\n" << help;
    }
  }
}

TEST(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(RunVhdcrypt({}).exit_code, 2);
  auto unknown = RunVhdcrypt({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("'frobnicate' is not a subcommand (one of info, convert, check, encrypt, verify, "
                             "decrypt, deploy, rekey, status)"),
            std::string::npos)
      << unknown.err;
  EXPECT_EQ(RunVhdcrypt({"info"}).exit_code, 2);
  EXPECT_EQ(RunVhdcrypt({"info", "x", "--bogus"}).exit_code, 2);
  EXPECT_EQ(RunVhdcrypt({"convert", "a", "b"}).exit_code, 2);  // --to is required
  testing::TempDir dir;
  WriteBytes(dir / "in.vhd", testing::ValidFixedVhd());
  auto r = RunVhdcrypt({"convert", dir / "in.vhd", dir / "out", "--to", "vmdk"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("vhdcrypt: error: --to: 'vmdk' is not one of vhd-fixed, vhd-dynamic, raw"), std::string::npos)
      << r.err;
  r = RunVhdcrypt({"info", "--format", "qcow2", dir / "in.vhd"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--format: 'qcow2' is not one of auto, vhd, raw"), std::string::npos) << r.err;
}

TEST(Cli, MissingInputIsAnIoErrorNamingTheFile) {
  auto r = RunVhdcrypt({"info", "/nonexistent/disk.vhd"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("/nonexistent/disk.vhd"), std::string::npos) << r.err;
}

TEST(Cli, InfoJsonDescribesADynamicVhd) {
  testing::TempDir dir;
  WriteBytes(dir / "d.vhd", testing::ValidDynamicVhd());
  auto r = RunVhdcrypt({"info", "--json", dir / "d.vhd"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["container"], "vhd-dynamic");
  EXPECT_EQ(j["virtual_size"], 8u * 1024 * 1024);
  EXPECT_EQ(j["allocated_bytes"], 4u * 1024 * 1024);
  EXPECT_EQ(j["vhd"]["block_size"], 2u * 1024 * 1024);
  EXPECT_EQ(j["vhd"]["allocated_blocks"], 2u);
  EXPECT_EQ(j["vhd"]["creator_app"], "win ");
  EXPECT_EQ(j["partition_table"]["kind"], "none");

  auto text = RunVhdcrypt({"info", dir / "d.vhd"});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("vhd-dynamic"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("8388608"), std::string::npos) << text.out;
}

// Disk2VHD's creator is "d2v" and a NUL: shown as "d2v", not "d2v?"; other
// bytes that are not printable as \xNN.
TEST(Cli, InfoShowsACreatorPaddedWithNulAsItsName) {
  testing::TempDir dir;
  for (const auto& [bytes, shown] : std::vector<std::pair<std::string, std::string>>{
           {std::string("d2v\0", 4), "d2v"}, {std::string("a\0\x1b\0", 4), "a\\x00\\x1b"}}) {
    std::vector<uint8_t> vhd = testing::ValidFixedVhd();
    const size_t footer = vhd.size() - 512;
    std::copy(bytes.begin(), bytes.end(), vhd.begin() + static_cast<long>(footer + 28));
    const uint32_t sum = vhd::Checksum(std::span(vhd).subspan(footer, 512), 64);
    for (int i = 0; i < 4; ++i) vhd[footer + 64 + i] = static_cast<uint8_t>(sum >> (24 - 8 * i));
    WriteBytes(dir / "d.vhd", vhd);
    auto r = RunVhdcrypt({"info", "--json", dir / "d.vhd"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["vhd"]["creator_app"], shown);
  }
}

TEST(Cli, ConvertRefusesToReplaceAnExistingOutput) {
  testing::TempDir dir;
  WriteBytes(dir / "in.vhd", testing::ValidDynamicVhd());
  std::ofstream(dir / "out.img") << "precious";
  auto r = RunVhdcrypt({"convert", dir / "in.vhd", dir / "out.img", "--to", "raw"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--force"), std::string::npos);
  EXPECT_EQ(testing::ReadText(dir / "out.img"), "precious");
  EXPECT_EQ(dir.EntryCount(), 2u);
  auto forced = RunVhdcrypt({"convert", "--force", dir / "in.vhd", dir / "out.img", "--to", "raw"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(std::filesystem::file_size(dir / "out.img"), 8u * 1024 * 1024);
}

TEST(Cli, ConvertNeverWritesOverItsInput) {
  testing::TempDir dir;
  auto bytes = testing::ValidDynamicVhd();
  WriteBytes(dir / "in.vhd", bytes);
  auto r = RunVhdcrypt({"convert", "--force", dir / "in.vhd", dir / "in.vhd", "--to", "raw"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is the input"), std::string::npos) << r.err;
  EXPECT_EQ(testing::ReadText(dir / "in.vhd"), std::string(bytes.begin(), bytes.end()));
}

TEST(Cli, ConvertRoundTripsThroughEveryContainer) {
  testing::TempDir dir;
  auto bytes = testing::ValidDynamicVhd();
  WriteBytes(dir / "in.vhd", bytes);
  ASSERT_EQ(RunVhdcrypt({"convert", dir / "in.vhd", dir / "a.vhd", "--to", "vhd-fixed"}).exit_code, 0);
  ASSERT_EQ(RunVhdcrypt({"convert", dir / "a.vhd", dir / "b.img", "--to", "raw"}).exit_code, 0);
  ASSERT_EQ(RunVhdcrypt({"convert", "--format", "raw", dir / "b.img", dir / "c.vhd", "--to", "vhd-dynamic"}).exit_code,
            0);
  auto j = nlohmann::json::parse(RunVhdcrypt({"info", "--json", dir / "c.vhd"}).out);
  EXPECT_EQ(j["vhd"]["allocated_blocks"], 2u);
  // Back to raw from the dynamic one; must equal the first raw copy.
  ASSERT_EQ(RunVhdcrypt({"convert", dir / "c.vhd", dir / "d.img", "--to", "raw"}).exit_code, 0);
  EXPECT_EQ(testing::ReadText(dir / "b.img"), testing::ReadText(dir / "d.img"));
  EXPECT_EQ(testing::ReadText(dir / "in.vhd"), std::string(bytes.begin(), bytes.end()));
}

TEST(Cli, CheckTakesOneDiskPerDataFlag) {
  // IMAGE must not be swallowed by --data; the first file opened is IMAGE.
  auto r = RunVhdcrypt({"check", "--data", "/nonexistent/d1.vhd", "/nonexistent/os.vhd"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("/nonexistent/os.vhd: cannot open"), std::string::npos) << r.err;
}

TEST(Cli, CheckRefusesAMalformedImageBeforeLaunchingAnything) {
  testing::TempDir dir;
  auto bytes = testing::ValidDynamicVhd();
  bytes[1536] = 0;  // BAT entry 0 now points into the footer copy
  bytes[1537] = 0;
  bytes[1538] = 0;
  bytes[1539] = 0;
  WriteBytes(dir / "bad.vhd", bytes);
  auto r = RunVhdcrypt({"check", "--json", dir / "bad.vhd"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("BAT entry 0"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  auto usage = RunVhdcrypt({"check", "--policy", "aws", dir / "bad.vhd"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("--policy"), std::string::npos) << usage.err;
}

TEST(Cli, SignalDuringConvertLeavesNothingBehind) {
  testing::TempDir dir;
  {
    // 256 MiB of non-zero data: long enough to stop the copy in the middle.
    std::ofstream f(dir / "big.img", std::ios::binary);
    std::vector<char> chunk(1 << 20);
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(i | 1);
    for (int i = 0; i < 256; ++i) f.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  }
  pid_t pid = testing::Spawn({"convert", dir / "big.img", dir / "out.vhd", "--to", "vhd-dynamic"},
                             dir.path() + "/../conv.out", dir.path() + "/../conv.err");
  // Wait for the temporary to appear, freeze the process, then terminate it.
  bool seen = false;
  for (int i = 0; i < 20000 && !seen; ++i) {
    for (auto& e : std::filesystem::directory_iterator(dir.path())) {
      if (e.path().filename().string().rfind(".out.vhd.vhdcrypt-", 0) == 0) seen = true;
    }
    if (!seen) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::kill(pid, SIGSTOP);
  ASSERT_TRUE(seen) << "temporary output never appeared";
  ::kill(pid, SIGTERM);
  ::kill(pid, SIGCONT);
  auto r = testing::Wait(pid, dir.path() + "/../conv.out", dir.path() + "/../conv.err");
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_EQ(dir.EntryCount(), 1u) << "the temporary or the output survived the signal";
  EXPECT_FALSE(std::filesystem::exists(dir / "out.vhd"));
}

}  // namespace
}  // namespace vhdcrypt
