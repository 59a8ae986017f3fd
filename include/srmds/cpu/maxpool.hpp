// CPU 2x2 max pooling, stride 2 (reference and production path). See ops/maxpool.hpp.
//   y[n, c, i, j] = max over the window {2i, 2i+1} x {2j, 2j+1} of x[n, c]
//   argmax[n, c, i, j] = h * W + w of the first maximum in the order (0,0), (0,1), (1,0), (1,1)
//   dx[n, c, argmax] (+)= dy[n, c, i, j]   (windows do not overlap, so planes scatter without races)
// A NaN in a window wins (propagates), as in PyTorch. Work is split over (n, c) planes.
// Declarations only: the kernels (src/cpu/maxpool.cpp) are compiled in the library for float and
// double, once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include <cstdint>

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void maxpool2_forward(const Tensor<T, Cpu>& x,          // (N, C, H, W)
                      Tensor<T, Cpu>& y,                // (N, C, H/2, W/2)
                      Tensor<int32_t, Cpu>& argmax);   // (N, C, H/2, W/2)

template <class T>
void maxpool2_backward(const Tensor<T, Cpu>& dy,            // (N, C, H/2, W/2)
                       const Tensor<int32_t, Cpu>& argmax,  // (N, C, H/2, W/2)
                       Tensor<T, Cpu>& dx,                  // (N, C, H, W)
                       WriteMode mode);

}  // namespace srmds::cpu
