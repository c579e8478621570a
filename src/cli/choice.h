// Options whose value is one of a few names, stored straight into an enum (or
// number) by CLI11: the name is checked while parsing, and an unknown one is a
// usage error that lists them all ("--to: 'vmdk' is not one of vhd-fixed, ...").
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

namespace vhdcrypt {

template <typename T>
using Choices = std::vector<std::pair<std::string, T>>;

template <typename T>
std::string ChoiceNames(const Choices<T>& choices) {
  std::string names;
  for (const auto& [name, value] : choices) names += (names.empty() ? "" : ", ") + name;
  return names;
}

// Adds option `flag` to `cmd`, storing the value of the name given in
// `target`; `--help` shows the name of target's value as the default.
template <typename T>
CLI::Option* AddChoice(CLI::App* cmd, const std::string& flag, T& target, const Choices<T>& choices,
                       const std::string& help) {
  const std::string names = ChoiceNames(choices);
  CLI::Validator one_of(
      [choices, names](std::string& text) -> std::string {
        for (const auto& choice : choices) {
          if (choice.first == text) return {};
        }
        return "'" + text + "' is not one of " + names;
      },
      "", "one of");
  std::string current;
  for (const auto& [name, value] : choices) {
    if (value == target && current.empty()) current = name;
  }
  auto store = [&target, choices](const std::string& text) {
    for (const auto& [name, value] : choices) {
      if (name == text) target = value;
    }
  };
  return cmd->add_option_function<std::string>(flag, store, help)
      ->check(one_of)
      ->type_name("{" + names + "}")
      ->default_str(current);
}

}  // namespace vhdcrypt
