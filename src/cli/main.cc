#include "src/cli/cli.h"

int main(int argc, char** argv) { return vhdcrypt::RunCli(argc, argv); }
