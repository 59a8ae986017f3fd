// Squeeze-and-excitation: one sample's excitation (two tiny fully connected layers) and its backward.
// Shared by the CPU backend (cpu/) and the CUDA kernels (kernels/).
#pragma once

#include "srmds/core/macros.hpp"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds {

// One sample's excitation: s (C) -> u (hd), a (C). w1 is (hd, C) row-major, w2 is (C, hd).
template <class T, class A>
SRMDS_HOST_DEVICE void se_excitation(const A* s, const T* w1, const T* b1, const T* w2, const T* b2, int c, int hd,
                                     A* u, A* a) {
  for (int j = 0; j < hd; ++j) {
    A z = static_cast<A>(b1[j]);
    for (int k = 0; k < c; ++k) z += static_cast<A>(w1[j * c + k]) * s[k];
    u[j] = z > A(0) ? z : A(0);
  }
  for (int k = 0; k < c; ++k) {
    A z = static_cast<A>(b2[k]);
    for (int j = 0; j < hd; ++j) z += static_cast<A>(w2[k * hd + j]) * u[j];
    a[k] = sigmoid_of(z);
  }
}

// One sample's excitation backward: from ga = dL/da (C), the saved u (hd) and a (C), gives
// gz2 = dL/d(W2 u + b2) (C), gz1 = dL/d(W1 s + b1) (hd) and gs = dL/ds (C).
template <class T, class A>
SRMDS_HOST_DEVICE void se_excitation_backward(const A* ga, const A* u, const A* a, const T* w1, const T* w2, int c,
                                              int hd, A* gz2, A* gz1, A* gs) {
  for (int k = 0; k < c; ++k) gz2[k] = ga[k] * a[k] * (A(1) - a[k]);
  for (int j = 0; j < hd; ++j) {
    A g = 0;
    for (int k = 0; k < c; ++k) g += static_cast<A>(w2[k * hd + j]) * gz2[k];
    gz1[j] = u[j] > A(0) ? g : A(0);
  }
  for (int k = 0; k < c; ++k) {
    A g = 0;
    for (int j = 0; j < hd; ++j) g += static_cast<A>(w1[j * c + k]) * gz1[j];
    gs[k] = g;
  }
}

}  // namespace srmds
