// CPU spatial group-wise enhance (reference and production path). See ops/sge.hpp for the op and
// ops/math/sge.hpp for the math:
//   forward:  g_c = mean_hw x_c;  per (n, group): e = sum_c x_c g_c, n = (e - mu) / (sigma + eps),
//             s = sigmoid(w n + b), y_c = x_c s
//   backward: dt = s (1 - s) sum_c dy_c x_c;  S1 = sum dt, S2 = sum dt n;  dw = sum_n S2, db = sum_n S1
//             de = sge_energy_grad(dt, n, S1, S2, w, sigma);  dx_c = dy_c s + de g_c + sum_hw(de x_c) / (H W)
// Sums are accumulated in double; work is split over (n, c) planes and (n, group) pairs. The
// energy e of a pixel adds its group's channels in ascending order, as the CUDA kernel does.
// Declarations only: the kernels (src/cpu/sge.cpp) are compiled in the library for float and double,
// once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void sge_forward(const Tensor<T, Cpu>& x,                                             // (N, C, H, W)
                 const Tensor<T, Cpu>& weight, const Tensor<T, Cpu>& bias,            // (1, G, 1, 1) each
                 Tensor<T, Cpu>& y,                                                   // (N, C, H, W), may be x
                 Tensor<T, Cpu>& mean, Tensor<T, Cpu>& norm, Tensor<T, Cpu>& stdev);  // (N, C), (N, G, H, W), (N, G)

template <class T>
void sge_backward(const Tensor<T, Cpu>& x,                                   // (N, C, H, W) forward input
                  const Tensor<T, Cpu>& dy,                                  // (N, C, H, W)
                  const Tensor<T, Cpu>& weight, const Tensor<T, Cpu>& bias,  // (1, G, 1, 1)
                  const Tensor<T, Cpu>& mean, const Tensor<T, Cpu>& norm, const Tensor<T, Cpu>& stdev,
                  Tensor<T, Cpu>& dx, WriteMode dx_mode,  // (N, C, H, W)
                  Tensor<T, Cpu>& dweight, Tensor<T, Cpu>& dbias, WriteMode param_mode);

}  // namespace srmds::cpu
