// CLI11 validators shared by the subcommands (their failures are parse errors: exit 2).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace srmds::cli {

// A seed: a non-negative integer that fits in 64 bits ("-1" is refused, not wrapped).
inline CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos ||
            (text.size() == 20 && text > "18446744073709551615"))
          return "\"" + text + "\" is not a seed (an integer in [0, 18446744073709551615])";
        return "";
      },
      "SEED");
}

}  // namespace srmds::cli
