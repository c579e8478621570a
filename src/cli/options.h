// Each subcommand's options: SetUp<Cmd> registers them on the CLI11
// subcommand, bound to a <Cmd>CommandOptions it owns, and returns how the
// subcommand runs once the command line parsed. The table in cli.cc names
// each subcommand's summary, help text and SetUp function.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

#include "base/result.h"

namespace vhdcrypt {

// The options before the subcommand.
struct GlobalOptions {
  int verbosity = 0;
  bool quiet = false;
};

struct Invocation {
  // The exit code of a run that completed, or the error that stopped it.
  std::function<Result<int>()> run;
  // With --progress json: the output directory the run's JSON result line
  // names; nullopt for no result line. Unset for subcommands without one.
  std::function<std::optional<std::string>()> json_result_dir;
};

using SetUpFunction = Invocation (*)(CLI::App* cmd, const GlobalOptions& global);

Invocation SetUpInfo(CLI::App* cmd, const GlobalOptions& global);
Invocation SetUpConvert(CLI::App* cmd, const GlobalOptions& global);
Invocation SetUpCheck(CLI::App* cmd, const GlobalOptions& global);
Invocation SetUpEncrypt(CLI::App* cmd, const GlobalOptions& global);
Invocation SetUpVerify(CLI::App* cmd, const GlobalOptions& global);
Invocation SetUpDecrypt(CLI::App* cmd, const GlobalOptions& global);
Invocation SetUpRekey(CLI::App* cmd, const GlobalOptions& global);
Invocation SetUpDeploy(CLI::App* cmd, const GlobalOptions& global);
Invocation SetUpStatus(CLI::App* cmd, const GlobalOptions& global);

}  // namespace vhdcrypt
