#include "src/cli/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/exit_codes.h"
#include "base/strings.h"
#include "base/version.h"
#include "formats/output_file.h"
#include "src/cli/help.h"
#include "src/cli/options.h"
#include "src/commands/progress.h"

namespace vhdcrypt {
namespace {

// The subcommands, in the order --help lists them (as ninja's kTools or
// cryptsetup's action_types): name, one-line summary, --help text, and the
// function that registers its options and says how it runs.
struct Command {
  const char* name;
  const char* summary;
  const CommandHelp& help;
  SetUpFunction set_up;
};

const Command kCommands[] = {
    {"info", "Show the container, virtual size and partition table of an image", kInfoHelp, SetUpInfo},
    {"convert", "Copy an image into another container, keeping it sparse", kConvertHelp, SetUpConvert},
    {"check", "Check an image against ADE's prerequisites before encrypting it", kCheckHelp, SetUpCheck},
    {"encrypt",
     "Encrypt the OS and data volumes of an image (and its data disks) as LUKS2 into new images in an output "
     "directory",
     kEncryptHelp, SetUpEncrypt},
    {"verify", "Unlock every volume of an encrypt output directory with dm-crypt and check what it decrypts to",
     kVerifyHelp, SetUpVerify},
    {"decrypt", "Decrypt an encrypt output directory into plaintext images (for labs and forensics)", kDecryptHelp,
     SetUpDecrypt},
    {"deploy",
     "Make one machine's copy of an encrypt output directory, with new volume keys, passphrase and recovery key",
     kDeployHelp, SetUpDeploy},
    {"rekey", "Replace the passphrase of every LUKS2 volume (and key volume) in images", kRekeyHelp, SetUpRekey},
    {"status", "Report what is encrypted in images, in ADE's terms (no key needed)", kStatusHelp, SetUpStatus},
};

// Log lines carry text from guests and file names: each message goes out
// through TerminalSafe (control characters and bytes that are not UTF-8 as
// \xNN), then to the coloured stderr sink, whose own colour codes stay.
class TerminalSafeSink : public spdlog::sinks::sink {
 public:
  TerminalSafeSink() : inner_(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()) {}
  void log(const spdlog::details::log_msg& msg) override {
    const std::string safe = TerminalSafe(std::string_view(msg.payload.data(), msg.payload.size()), false);
    spdlog::details::log_msg copy = msg;
    copy.payload = safe;
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    inner_->set_formatter(std::move(formatter));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

void SetUpLogging(const GlobalOptions& global) {
  auto logger = std::make_shared<spdlog::logger>("vhdcrypt", std::make_shared<TerminalSafeSink>());
  logger->set_pattern("vhdcrypt: %^%l%$: %v");
  if (global.quiet) {
    logger->set_level(spdlog::level::warn);
  } else if (global.verbosity >= 2) {
    logger->set_level(spdlog::level::trace);
  } else if (global.verbosity == 1) {
    logger->set_level(spdlog::level::debug);
  } else {
    logger->set_level(spdlog::level::info);
  }
  spdlog::set_default_logger(logger);
}

// The one place a run's outcome is reported: its error once on stderr
// ("vhdcrypt: error: MESSAGE"), and the JSON result line when it asked for one.
int RunCommand(const Command& command, const Invocation& invocation) {
  const Result<int> r = invocation.run();
  int code = kExitOk;
  std::string error;
  if (r.ok()) {
    code = *r;
    if (code != kExitOk) error = "verification failed";
  } else {
    spdlog::error("{}", r.error().message());
    code = ExitCodeFor(r.error().kind());
    error = r.error().message();
  }
  if (invocation.json_result_dir) {
    if (auto dir = invocation.json_result_dir()) PrintJsonResult(command.name, code, error, *dir);
  }
  return code;
}

// CLI11 says "A subcommand is required" for a word that is none; name it.
bool IsUnknownSubcommand(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return false;
  for (const Command& c : kCommands) {
    if (std::string_view(argv[1]) == c.name) return false;
  }
  std::string names;
  for (const Command& c : kCommands) names += std::string(names.empty() ? "" : ", ") + c.name;
  std::fprintf(stderr, "vhdcrypt: error: '%s' is not a subcommand (one of %s); see vhdcrypt --help\n",
               TerminalSafe(argv[1], false).c_str(), names.c_str());
  return true;
}

}  // namespace

int RunCli(int argc, char** argv) {
  if (IsUnknownSubcommand(argc, argv)) return kExitUsage;
  CLI::App app{"vhdcrypt: prepare pre-encrypted Linux disk images offline"};
  app.footer(std::string("Run vhdcrypt SUBCOMMAND --help for what each does, with examples.\n\n") + kExitCodeHelp +
             kEnvironmentHelp);
  app.require_subcommand(1);
  app.set_version_flag("--version", kToolName);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "vhdcrypt: error: " + TerminalSafe(e.what(), false) + "\nRun with --help for more information.\n";
  });
  GlobalOptions global;
  app.add_flag("-v,--verbose", global.verbosity, "More log output (repeat for more)");
  app.add_flag("-q,--quiet", global.quiet, "Only warnings and errors");

  std::vector<std::pair<CLI::App*, Invocation>> parsed;
  for (const Command& c : kCommands) {
    CLI::App* cmd = app.add_subcommand(c.name, c.summary);
    cmd->footer(HelpFooter(c.help));
    parsed.emplace_back(cmd, c.set_up(cmd, global));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, the version, or the error
    return code == 0 ? kExitOk : kExitUsage;
  }
  SetUpLogging(global);
  InstallCleanupSignalHandlers();
  for (size_t i = 0; i < parsed.size(); ++i) {
    if (parsed[i].first->parsed()) return RunCommand(kCommands[i], parsed[i].second);
  }
  return kExitUsage;
}

}  // namespace vhdcrypt
