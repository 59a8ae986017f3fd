// CPU CBAM (reference and production path). See ops/cbam.hpp for the op, ops/math/cbam.hpp for
// the spatial taps:
//   forward:  avg, max over H, W per (n, c);  ha = ReLU(W1 avg), hm = ReLU(W1 max)
//             a = sigmoid(W2 ha + W2 hm);  y' = x a;  P = [mean_c y', max_c y']
//             m = sigmoid(conv7x7(P) + b);  y = y' m
//   backward: dl = m (1 - m) sum_c dy_c y'_c;  dWs, dbs from dl and P;  dP = conv7x7^T(dl)
//             dy' = dy m + dP_0 / C + [c = argmax_c] dP_1;  da = sum_hw dy' x
//             dz = da a (1 - a);  dha = [ha > 0] W2^T dz (dhm likewise);  davg = W1^T dha, dmax = W1^T dhm
//             dW2 = sum_n dz (ha + hm)^T, dW1 = sum_n dha avg^T + dhm max^T
//             dx = dy' a + davg / (H W) + [hw = argmax_hw] dmax
// Maxima take the first index on ties. Sums in double; the channel MLP runs per sample in double.
// Declarations only: the kernels (src/cpu/cbam.cpp) are compiled in the library for float and double,
// once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"
#include "srmds/ops/attention_state.hpp"

namespace srmds::cpu {

template <class T>
void cbam_forward(const Tensor<T, Cpu>& x,                             // (N, C, H, W)
                  const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,  // (h, C, 1, 1), (C, h, 1, 1)
                  const Tensor<T, Cpu>& ws, const Tensor<T, Cpu>& bs,  // (1, 2, 7, 7), (1)
                  Tensor<T, Cpu>& y,                                   // (N, C, H, W), may be x
                  CbamSaved<T, Cpu>& sv);

template <class T>
void cbam_backward(const Tensor<T, Cpu>& x,                                             // (N, C, H, W) forward input
                   const Tensor<T, Cpu>& dy,                                            // (N, C, H, W)
                   const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,                  // (h, C, 1, 1), (C, h, 1, 1)
                   const Tensor<T, Cpu>& ws,                                            // (1, 2, 7, 7)
                   const CbamSaved<T, Cpu>& sv, Tensor<T, Cpu>& dx, WriteMode dx_mode,  // (N, C, H, W)
                   Tensor<T, Cpu>& dw1, Tensor<T, Cpu>& dw2, Tensor<T, Cpu>& dws, Tensor<T, Cpu>& dbs,
                   WriteMode param_mode);

}  // namespace srmds::cpu
