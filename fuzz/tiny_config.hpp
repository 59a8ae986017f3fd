// The network configurations of the fuzz targets and their seeds: the tiny one (base 4, 16 x 16, a
// config seed) and the checkpoint fuzzer's, the smallest network the config allows (one 3x3
// branch, no attention: 222 tensors with the optimizer moments, against 1,088 for the tiny one),
// since every input to that fuzzer loads all of its tensors.
#pragma once

#include "srmds/nets/config.hpp"

namespace srmds::fuzz {

inline NetConfig tiny_config() {
  NetConfig c;
  c.base = 4;
  c.se_reduction = 4;
  c.input_size = {16, 16};
  return c;
}

inline NetConfig checkpoint_config() {
  NetConfig c;
  c.base = 2;
  c.branches = {"3x3"};
  c.attention = Attention::None;
  c.input_size = {16, 16};
  return c;
}

}  // namespace srmds::fuzz
