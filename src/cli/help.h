// What `vhdcrypt SUBCOMMAND --help` prints after the options: what the
// subcommand does (and the files it writes), examples, then the exit codes.
// docs/<subcommand>.md says the same at length.
#pragma once

#include <string>

namespace vhdcrypt {

struct CommandHelp {
  const char* description;
  const char* examples;
};

extern const CommandHelp kInfoHelp, kConvertHelp, kCheckHelp, kEncryptHelp, kVerifyHelp, kDecryptHelp, kRekeyHelp,
    kStatusHelp, kDeployHelp;

// The footer of a subcommand's --help.
std::string HelpFooter(const CommandHelp& help);

}  // namespace vhdcrypt
