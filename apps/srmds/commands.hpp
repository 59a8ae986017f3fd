// The srmds subcommands. Each add_*_command registers one subcommand (its options and a callback
// that calls the library) on the top-level app; main.cpp only dispatches. A callback reports
// failures by throwing srmds::Error, which main turns into one line `srmds: error: ...` and exit 1.
#pragma once

#include <CLI/CLI.hpp>

namespace srmds::cli {

void add_info_command(CLI::App& app);  // cmd_info.cpp: parameters, MACs, form and config
void add_fuse_command(CLI::App& app);  // cmd_fuse.cpp: training-form weights -> fused weights

}  // namespace srmds::cli
