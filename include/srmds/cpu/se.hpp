// CPU squeeze-and-excitation (reference and production path). See ops/se.hpp.
//   forward:  s = mean_hw x,  u = ReLU(W1 s + b1),  a = sigmoid(W2 u + b2),  y = x a
//   backward: ga[n, c] = sum_hw dy x                      (dL/da)
//             gz2 = ga a (1 - a),  gu = W2^T gz2,  gz1 = gu [u > 0],  gs = W1^T gz1
//             dx = dy a + gs / (H W)
//             dW2 = sum_n gz2 u^T, db2 = sum_n gz2, dW1 = sum_n gz1 s^T, db1 = sum_n gz1
// Plane reductions are accumulated in double and split over (n, c) planes; the two tiny fully
// connected layers run per sample (se_excitation / se_excitation_backward in ops/math/se.hpp,
// shared with CUDA).
// Declarations only: the kernels (src/cpu/se.cpp) are compiled in the library for float and double,
// once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void se_forward(const Tensor<T, Cpu>& x,                                                 // (N, C, H, W)
                const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,                      // (Hd, C, 1, 1), (Hd)
                const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2,                      // (C, Hd, 1, 1), (C)
                Tensor<T, Cpu>& y,                                                       // (N, C, H, W)
                Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden, Tensor<T, Cpu>& scale);  // (N, C), (N, Hd), (N, C)

template <class T>
void se_backward(const Tensor<T, Cpu>& x,                             // (N, C, H, W) forward input
                 const Tensor<T, Cpu>& dy,                            // (N, C, H, W)
                 const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,  // (Hd, C, 1, 1), (C, Hd, 1, 1)
                 const Tensor<T, Cpu>& mean, const Tensor<T, Cpu>& hidden, const Tensor<T, Cpu>& scale,
                 Tensor<T, Cpu>& dx, WriteMode dx_mode,  // (N, C, H, W)
                 Tensor<T, Cpu>& dw1, Tensor<T, Cpu>& db1, Tensor<T, Cpu>& dw2, Tensor<T, Cpu>& db2,
                 WriteMode param_mode);

}  // namespace srmds::cpu
