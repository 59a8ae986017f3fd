// A training checkpoint's own metadata (SPEC §6; written by Trainer::save_checkpoint beside the
// weights, BN statistics and Adam moments): the next epoch, the optimizer's step and the best
// validation Dice so far, read from a file's metadata without touching its tensors
// (read_safetensors_header gives such a file cheaply). Each number must be present, finite,
// integral where it counts and in range; the form must be "train" and the config readable. Errors
// name the file and the key ("resume: checkpoint 'c.safetensors' has no 'step' in its metadata").
#pragma once

#include <cstdint>
#include <string>

#include "srmds/io/safetensors.hpp"
#include "srmds/nets/config.hpp"

namespace srmds::io {

inline constexpr int kMaxCheckpointEpochs = 1000000;
inline constexpr double kMaxCheckpointSteps = 9007199254740992.0;  // 2^53: every step count is exact in double

struct CheckpointInfo {
  int epoch = 0;          // the next epoch to train (0-based)
  int64_t step = 0;       // Adam steps taken
  double best_dice = -1;  // the best validation Dice so far (-1: none)
  NetConfig config;
};

CheckpointInfo read_checkpoint_info(const SafetensorsFile& file, const std::string& path);

}  // namespace srmds::io
