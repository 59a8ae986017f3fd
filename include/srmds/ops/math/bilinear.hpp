// Bilinear source taps along one axis (PyTorch's definition), for upsampling and image resizing. Shared by
// the CPU backend (cpu/) and the CUDA kernels (kernels/).
#pragma once

#include "srmds/core/macros.hpp"

namespace srmds {

// The two source indices along one axis and the weight of the second one.
template <class T>
struct BilinearTap {
  int i0, i1;
  T lambda;
};

// Source taps of output index dst along an axis of `in` -> `out` samples (PyTorch's definition):
//   align_corners: s = dst (in - 1) / (out - 1)  (0 when out == 1)
//   otherwise:     s = max((dst + 0.5) in / out - 0.5, 0)
//   i0 = floor(s), i1 = min(i0 + 1, in - 1), lambda = s - i0.
// Shared with the CUDA kernels.
template <class T>
SRMDS_HOST_DEVICE BilinearTap<T> bilinear_axis(int dst, int in, int out, bool align_corners) {
  T src;
  if (align_corners) {
    const T scale = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
    src = scale * static_cast<T>(dst);
  } else {
    const T scale = static_cast<T>(in) / static_cast<T>(out);
    src = (static_cast<T>(dst) + T(0.5)) * scale - T(0.5);
    src = src < T(0) ? T(0) : src;
  }
  int i0 = static_cast<int>(src);  // src >= 0, so truncation is floor
  i0 = i0 > in - 1 ? in - 1 : i0;
  const int i1 = i0 < in - 1 ? i0 + 1 : in - 1;
  BilinearTap<T> tap;
  tap.i0 = i0;
  tap.i1 = i1;
  tap.lambda = src - static_cast<T>(i0);
  return tap;
}

}  // namespace srmds
