#pragma once

namespace vhdcrypt {

// Parses the command line, runs one subcommand, prints any error once and
// returns the process exit code.
int RunCli(int argc, char** argv);

}  // namespace vhdcrypt
