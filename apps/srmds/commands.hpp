// The srmds subcommands. Each add_*_command registers one subcommand (its options and a callback
// that calls the library) on the top-level app; main.cpp only dispatches. A callback reports
// failures by throwing srmds::Error, which main turns into one line `srmds: error: ...` and exit 1.
#pragma once

#include <CLI/CLI.hpp>

namespace srmds::cli {

void add_info_command(CLI::App& app);  // cmd_info.cpp: parameters, MACs, form and config
void add_fuse_command(CLI::App& app);  // cmd_fuse.cpp: training-form weights -> fused weights
void add_phantom_command(CLI::App& app);  // cmd_phantom.cpp: synthetic CT phantoms (NIfTI pairs)
void add_train_command(CLI::App& app);    // cmd_train.cpp: training with checkpoints and resume
void add_eval_command(CLI::App& app);     // cmd_eval.cpp: metrics table (micro and per-image)
void add_segment_command(CLI::App& app);  // cmd_segment.cpp: CT volume -> mask / probability / PNGs
void add_demo_command(CLI::App& app);     // cmd_demo.cpp: the end-to-end demonstration
void add_bench_command(CLI::App& app);    // cmd_bench.cpp: images/s of both forms
void add_export_command(CLI::App& app);   // cmd_export.cpp: fused network -> ONNX model

}  // namespace srmds::cli
