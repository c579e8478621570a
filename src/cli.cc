#include "src/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

#include "formats/output_file.h"
#include "src/cmd_check.h"
#include "src/cmd_convert.h"
#include "src/cmd_info.h"
#include "src/exit_codes.h"
#include "src/format_util.h"
#include "src/report.h"

namespace vhdcrypt {
namespace {

void SetUpLogging(int verbosity, bool quiet) {
  auto logger = spdlog::stderr_color_mt("vhdcrypt");
  logger->set_pattern("vhdcrypt: %^%l%$: %v");
  if (quiet) {
    logger->set_level(spdlog::level::warn);
  } else if (verbosity >= 2) {
    logger->set_level(spdlog::level::trace);
  } else if (verbosity == 1) {
    logger->set_level(spdlog::level::debug);
  } else {
    logger->set_level(spdlog::level::info);
  }
  spdlog::set_default_logger(logger);
}

// One subcommand: registers its options, then runs once parsing succeeded.
struct Subcommand {
  CLI::App* app;
  std::function<int()> run;
};

Subcommand AddInfo(CLI::App& root, InfoOptions& o, std::string& format) {
  auto* cmd = root.add_subcommand("info", "Show the container, virtual size and partition table of an image");
  cmd->add_option("IMAGE", o.image, "Disk image (VHD fixed or dynamic, or raw)")->required();
  cmd->add_option("--format", format, "Container format: auto (detect by content), vhd, raw")
      ->capture_default_str();
  cmd->add_flag("--json", o.json, "Print JSON instead of text");
  return {cmd, [&o, &format]() {
            auto hint = ParseFormatHint(format);
            if (!hint.ok()) return ReportError(hint.error());
            o.format = *hint;
            return RunInfo(o);
          }};
}

Subcommand AddConvert(CLI::App& root, ConvertOptions& o, std::string& format, std::string& to) {
  auto* cmd = root.add_subcommand("convert", "Copy an image into another container, keeping it sparse");
  cmd->add_option("IN", o.input, "Input image (never modified)")->required();
  cmd->add_option("OUT", o.output, "Output image (written atomically)")->required();
  cmd->add_option("--to", to, "Output container: vhd-fixed, vhd-dynamic, raw")->required();
  cmd->add_option("--format", format, "Input container format: auto, vhd, raw")->capture_default_str();
  cmd->add_flag("--force", o.force, "Replace OUT if it exists");
  cmd->add_flag("--progress", o.progress, "Show progress on stderr");
  return {cmd, [&o, &format, &to]() {
            auto hint = ParseFormatHint(format);
            if (!hint.ok()) return ReportError(hint.error());
            auto kind = ParseContainerKind(to);
            if (!kind.ok()) return ReportError(kind.error());
            o.format = *hint;
            o.to = *kind;
            return RunConvert(o);
          }};
}

Subcommand AddCheck(CLI::App& root, CheckCommandOptions& o, std::string& format, std::string& policy,
                    std::string& volume_type) {
  auto* cmd = root.add_subcommand("check", "Check an image against ADE's prerequisites before encrypting it");
  cmd->add_option("IMAGE", o.image, "OS disk image (VHD or raw); opened read-only")->required();
  cmd->add_option("--data", o.data_disks, "A data disk image whose filesystems fstab refers to (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--format", format, "Container format of IMAGE: auto, vhd, raw")->capture_default_str();
  cmd->add_option("--policy", policy,
                  "azure: ADE's supported distros and versions; generic: any Linux vhdcrypt can unlock")
      ->capture_default_str();
  cmd->add_option("--volume-type", volume_type, "What will be encrypted: all, os, data")->capture_default_str();
  cmd->add_flag("--json", o.json, "Print JSON instead of text");
  return {cmd, [&o, &format, &policy, &volume_type]() {
            auto hint = ParseFormatHint(format);
            if (!hint.ok()) return ReportError(hint.error());
            o.format = *hint;
            if (policy == "azure") {
              o.rules.policy = Policy::kAzure;
            } else if (policy == "generic") {
              o.rules.policy = Policy::kGeneric;
            } else {
              return ReportError(UsageError("--policy: '" + policy + "' is not one of azure, generic"));
            }
            if (volume_type == "all") {
              o.rules.volume_type = VolumeType::kAll;
            } else if (volume_type == "os") {
              o.rules.volume_type = VolumeType::kOs;
            } else if (volume_type == "data") {
              o.rules.volume_type = VolumeType::kData;
            } else {
              return ReportError(UsageError("--volume-type: '" + volume_type + "' is not one of all, os, data"));
            }
            return RunCheck(o);
          }};
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{"vhdcrypt: prepare pre-encrypted Linux disk images offline"};
  app.footer(kExitCodeHelp);
  app.require_subcommand(1);
  app.set_version_flag("--version", "vhdcrypt 0.1.0");
  int verbosity = 0;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbosity, "More log output (repeat for more)");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors");

  InfoOptions info;
  ConvertOptions convert;
  CheckCommandOptions check;
  std::string info_format = "auto", convert_format = "auto", convert_to;
  std::string check_format = "auto", check_policy = "azure", check_volumes = "all";
  std::vector<Subcommand> subcommands = {
      AddInfo(app, info, info_format),
      AddConvert(app, convert, convert_format, convert_to),
      AddCheck(app, check, check_format, check_policy, check_volumes),
  };
  for (auto& s : subcommands) s.app->footer(kExitCodeHelp);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  SetUpLogging(verbosity, quiet);
  InstallCleanupSignalHandlers();
  for (auto& s : subcommands) {
    if (s.app->parsed()) return s.run();
  }
  return kExitUsage;
}

}  // namespace vhdcrypt
