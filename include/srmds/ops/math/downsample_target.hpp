// Deep-supervision target of one output pixel (average, nearest or max of its f x f block). Shared by the
// CPU backend (cpu/) and the CUDA kernels (kernels/).
#pragma once

#include "srmds/core/macros.hpp"
#include "srmds/core/device.hpp"

namespace srmds {

// The target value of output pixel (oy, ox) from a contiguous mask plane of width w, factor f.
// Shared with the CUDA kernels.
template <class T>
SRMDS_HOST_DEVICE T downsample_target_at(const T* plane, int w, int oy, int ox, int f, TargetMode mode) {
  const T* block = plane + static_cast<long long>(oy) * f * w + static_cast<long long>(ox) * f;
  if (mode == TargetMode::Nearest) return block[0];
  T acc = mode == TargetMode::Max ? block[0] : T(0);
  for (int dy = 0; dy < f; ++dy)
    for (int dx = 0; dx < f; ++dx) {
      const T v = block[static_cast<long long>(dy) * w + dx];
      if (mode == TargetMode::Max)
        acc = v > acc ? v : acc;
      else
        acc += v;
    }
  return mode == TargetMode::Max ? acc : acc / static_cast<T>(f * f);
}

}  // namespace srmds
