// Squeeze-and-excitation: one sample's excitation (two tiny fully connected layers) and its backward.
// Shared by the CPU backend (cpu/) and the CUDA kernels (kernels/se.cu). The per-output functions
// are what the GPU runs in parallel (one thread per output); se_excitation and
// se_excitation_backward run them in order for one sample (the CPU), so each output is computed by
// the same operations in the same order on both backends.
//   u_j  = ReLU(b1_j + sum_k W1[j, k] s_k)        a_k = sigmoid(b2_k + sum_j W2[k, j] u_j)
//   gz2_k = ga_k a_k (1 - a_k)   gz1_j = [u_j > 0] sum_k W2[k, j] gz2_k   gs_k = sum_j W1[j, k] gz1_j
// w1 is (hd, C) row-major, w2 is (C, hd); A is the accumulation type (double on both backends).
#pragma once

#include "srmds/core/macros.hpp"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds {

// Hidden unit j of the excitation from the squeezed s (C).
template <class T, class A>
SRMDS_HOST_DEVICE A se_hidden_unit(const A* s, const T* w1, const T* b1, int c, int j) {
  A z = static_cast<A>(b1[j]);
  for (int k = 0; k < c; ++k) z += static_cast<A>(w1[j * c + k]) * s[k];
  return z > A(0) ? z : A(0);
}

// Gate k of the excitation from the hidden u (hd).
template <class T, class A>
SRMDS_HOST_DEVICE A se_gate(const A* u, const T* w2, const T* b2, int hd, int k) {
  A z = static_cast<A>(b2[k]);
  for (int j = 0; j < hd; ++j) z += static_cast<A>(w2[k * hd + j]) * u[j];
  return sigmoid_of(z);
}

// dL/d(W2 u + b2)_k from ga_k = dL/da_k and the gate a_k.
template <class A>
SRMDS_HOST_DEVICE A se_gate_grad(A ga, A a) {
  return ga * a * (A(1) - a);
}

// dL/d(W1 s + b1)_j from gz2 (C) and the saved hidden unit u_j.
template <class T, class A>
SRMDS_HOST_DEVICE A se_hidden_grad(const A* gz2, A u, const T* w2, int c, int hd, int j) {
  A g = 0;
  for (int k = 0; k < c; ++k) g += static_cast<A>(w2[k * hd + j]) * gz2[k];
  return u > A(0) ? g : A(0);
}

// dL/ds_k from gz1 (hd).
template <class T, class A>
SRMDS_HOST_DEVICE A se_squeeze_grad(const A* gz1, const T* w1, int c, int hd, int k) {
  A g = 0;
  for (int j = 0; j < hd; ++j) g += static_cast<A>(w1[j * c + k]) * gz1[j];
  return g;
}

// One sample's excitation: s (C) -> u (hd), a (C).
template <class T, class A>
SRMDS_HOST_DEVICE void se_excitation(const A* s, const T* w1, const T* b1, const T* w2, const T* b2, int c, int hd,
                                     A* u, A* a) {
  for (int j = 0; j < hd; ++j) u[j] = se_hidden_unit(s, w1, b1, c, j);
  for (int k = 0; k < c; ++k) a[k] = se_gate(u, w2, b2, hd, k);
}

// One sample's excitation backward: from ga = dL/da (C), the saved u (hd) and a (C), gives
// gz2 = dL/d(W2 u + b2) (C), gz1 = dL/d(W1 s + b1) (hd) and gs = dL/ds (C).
template <class T, class A>
SRMDS_HOST_DEVICE void se_excitation_backward(const A* ga, const A* u, const A* a, const T* w1, const T* w2, int c,
                                              int hd, A* gz2, A* gz1, A* gs) {
  for (int k = 0; k < c; ++k) gz2[k] = se_gate_grad(ga[k], a[k]);
  for (int j = 0; j < hd; ++j) gz1[j] = se_hidden_grad(gz2, u[j], w2, c, hd, j);
  for (int k = 0; k < c; ++k) gs[k] = se_squeeze_grad(gz1, w1, c, hd, k);
}

}  // namespace srmds
