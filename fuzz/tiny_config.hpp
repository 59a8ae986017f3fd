// The tiny network configuration of the checkpoint fuzzer and its seeds (base 4, 16 x 16).
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

}  // namespace srmds::fuzz
