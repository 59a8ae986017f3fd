// CPU polarized self-attention (reference and production path). See ops/psa.hpp for the op and
// ops/math/psa.hpp for why no (N, C/2, H, W) map is formed. C channels, Ch = C / 2, M = H W:
//   forward:  q = softmax_hw(Wq x + bq);  yq = sum_hw x q;  z = Wv yq + bv;  w = Wz z + bz
//             a = sigmoid(LN(w) gamma + beta)                                 channel gate (N, C)
//             sq = softmax_c(Wq' mean_hw x + bq');  u = Wv'^T sq;  b0 = sq . bv'
//             m = sigmoid(u . x + b0)                                         spatial gate (N, 1, H, W)
//             y = x a + x m
//   backward: da = sum_hw dy x;  ds = m (1 - m) sum_c dy_c x_c;  du = sum_hw ds x;  db0 = sum_hw ds
//             dl = da a (1 - a);  dn = dl gamma;  dw = LN^T dn;  dz = Wz^T dw;  dyq = Wv^T dz
//             dsq = Wv' du + bv' db0;  dr = sq (dsq - sq . dsq);  dmean = Wq'^T dr
//             dq = sum_c dyq_c x_c;  dql = q (dq - q . dq)
//             dx = dy (a + m) + ds u + dmean / M + dyq q + dql Wq
//             parameter gradients are sums over the batch of outer products of these vectors.
// Reductions in double; the per-sample vector algebra runs in double (ops/math/attention.hpp).
// Declarations only: the kernels (src/cpu/psa.cpp) are compiled in the library for float and double,
// once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"
#include "srmds/ops/attention_state.hpp"

namespace srmds::cpu {

template <class T>
void psa_forward(const Tensor<T, Cpu>& x,                         // (N, C, H, W)
                 const PsaWeights<T, Cpu>& p, Tensor<T, Cpu>& y,  // (N, C, H, W), may be x
                 PsaSaved<T, Cpu>& sv);

template <class T>
void psa_backward(const Tensor<T, Cpu>& x,   // (N, C, H, W) forward input
                  const Tensor<T, Cpu>& dy,  // (N, C, H, W)
                  const PsaWeights<T, Cpu>& p, const PsaSaved<T, Cpu>& sv, Tensor<T, Cpu>& dx,
                  WriteMode dx_mode,  // (N, C, H, W)
                  const PsaGrads<T, Cpu>& g, WriteMode param_mode);

}  // namespace srmds::cpu
