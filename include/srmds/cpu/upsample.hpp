// CPU bilinear resizing (reference and production path). See ops/upsample.hpp.
//   y[n, c, i, j] = (1 - ly)((1 - lx) x[i0, j0] + lx x[i0, j1]) + ly((1 - lx) x[i1, j0] + lx x[i1, j1])
// with (i0, i1, ly) = bilinear_axis(i, h, H) and (j0, j1, lx) = bilinear_axis(j, w, W)
// (ops/math/bilinear.hpp). Backward scatters each dy with the same four weights; every (n, c) plane
// is done by one thread (parallel over planes, no races).
// Declarations only: the kernels (src/cpu/upsample.cpp) are compiled in the library for float and
// double, once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void upsample_bilinear_forward(const Tensor<T, Cpu>& x,  // (N, C, h, w)
                               Tensor<T, Cpu>& y,        // (N, C, H, W)
                               bool align_corners);

template <class T>
void upsample_bilinear_backward(const Tensor<T, Cpu>& dy,  // (N, C, H, W)
                                Tensor<T, Cpu>& dx,        // (N, C, h, w)
                                bool align_corners, WriteMode mode);

}  // namespace srmds::cpu
