// CPU deep-supervision targets (SPEC §3). See ops/downsample_target.hpp.
//   out[n, c, i, j] = mean / top-left / max of mask[n, c, f i .. f i + f - 1, f j .. f j + f - 1]
// Work is split over (n, c) planes.
#pragma once

#include "srmds/core/device.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/cpu/parallel.hpp"

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

namespace cpu {

template <class T>
void downsample_target(const Tensor<T, Cpu>& mask,  // (N, C, H, W)
                       Tensor<T, Cpu>& out,         // (N, C, H/f, W/f)
                       int factor, TargetMode mode) {
  const Shape& s = out.shape();
  const int w = static_cast<int>(mask.shape().w());
  const int64_t in_hw = mask.shape().h() * mask.shape().w(), out_hw = s.h() * s.w();
  parallel_for(
      s.n() * s.c(),
      [&](int64_t plane) {
        const int64_t n = plane / s.c(), c = plane % s.c();
        const T* mp = mask.sample(n) + c * in_hw;
        T* op = out.sample(n) + c * out_hw;
        for (int oy = 0; oy < static_cast<int>(s.h()); ++oy)
          for (int ox = 0; ox < static_cast<int>(s.w()); ++ox)
            op[oy * s.w() + ox] = downsample_target_at(mp, w, oy, ox, factor, mode);
      },
      in_hw);
}

}  // namespace cpu
}  // namespace srmds
