// CPU deep-supervision targets (SPEC §3). See ops/downsample_target.hpp.
//   out[n, c, i, j] = mean / top-left / max of mask[n, c, f i .. f i + f - 1, f j .. f j + f - 1]
// Work is split over (n, c) planes.
// Declaration only: the kernel (src/cpu/downsample_target.cpp) is compiled in the library for float
// and double, once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/device.hpp"
#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void downsample_target(const Tensor<T, Cpu>& mask,  // (N, C, H, W)
                       Tensor<T, Cpu>& out,         // (N, C, H/f, W/f)
                       int factor, TargetMode mode);

}  // namespace srmds::cpu
