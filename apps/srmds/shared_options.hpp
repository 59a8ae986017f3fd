// The options several subcommands share, each registered in one place (name, help, check and
// default): --device (train, eval, segment, bench, demo), --series and --png16-hu (the readers of
// train, eval, segment), --model and --tta (eval, segment), --precision (eval, segment, bench).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace srmds::cli {

inline void add_device_option(CLI::App* sub, std::string& device) {
  sub->add_option("--device", device)->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
}

inline void add_reader_options(CLI::App* sub, std::string& series, bool& png16_hu) {
  sub->add_option("--series", series, "SeriesInstanceUID to read from a DICOM folder holding several series");
  sub->add_flag("--png16-hu", png16_hu, "16-bit PNG slices hold HU + 32768 (else min-max per slice)");
}

// Several files (comma-separated or repeated; cli_util.hpp file_list) are an ensemble (infer/ensemble.hpp).
inline void add_model_option(CLI::App* sub, std::vector<std::string>& models) {
  sub->add_option("--model", models,
                  "Weight file or training checkpoint (.safetensors); several, comma-separated or repeated: an ensemble "
                  "(their probabilities averaged; they must take the same input size, window and labels)")
      ->required();
}

inline void add_tta_flag(CLI::App* sub, bool& tta) {
  sub->add_flag("--tta", tta, "Test-time augmentation: average the probabilities of each slice and its mirror image");
}

inline void add_precision_option(CLI::App* sub, std::string& precision) {
  sub->add_option("--precision", precision,
                  "bf16: the fused network's 3x3 convolutions in bf16 with fp32 accumulation (CPU only)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
}

}  // namespace srmds::cli
