// 2x2 max-pooling window argmax (NaN wins, as in PyTorch). Shared by the CPU backend (cpu/) and the CUDA
// kernels (kernels/).
#pragma once

#include <cstdint>

#include "srmds/core/macros.hpp"

namespace srmds {

// The window argmax of output (oh, ow) in a contiguous plane of width w: returns h * w + w_index
// of the winner and stores its value in *value. Shared with the CUDA kernels.
template <class T>
SRMDS_HOST_DEVICE int32_t maxpool2_window_argmax(const T* plane, int w, int oh, int ow, T* value) {
  const int base = 2 * oh * w + 2 * ow;
  const int offsets[4] = {0, 1, w, w + 1};
  int best = base;
  T best_v = plane[base];
  for (int k = 1; k < 4; ++k) {
    const T v = plane[base + offsets[k]];
    if (v > best_v || (v != v && best_v == best_v)) {
      best_v = v;
      best = base + offsets[k];
    }
  }
  *value = best_v;
  return best;
}

}  // namespace srmds
