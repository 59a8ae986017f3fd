// Spatial group-wise enhance (SGE): the per-pixel pieces shared by the CPU backend (cpu/sge.hpp)
// and the CUDA kernels (kernels/sge.cu). For one sample and group with M = H W pixels:
//   e_i  = sum_{c in group} x_{c,i} g_c,   g_c = mean_i x_{c,i}
//   n_i  = (e_i - mu) / (sigma + eps),     mu = mean_i e_i, sigma = unbiased std of e (eps 1e-5)
//   s_i  = sigmoid(w n_i + b),             y_{c,i} = x_{c,i} s_i
// Backward, with dt_i = dL/dt_i = s_i (1 - s_i) sum_c dy_{c,i} x_{c,i}, S1 = sum_i dt_i and
// S2 = sum_i dt_i n_i:
//   dL/dw = S2,  dL/db = S1
//   de_i  = w ((dt_i - S1 / M) / (sigma + eps) - S2 n_i / ((M - 1) sigma))   (second term 0 if sigma = 0)
//   dx_{c,i} = dy_{c,i} s_i + de_i g_c + (sum_j de_j x_{c,j}) / M
#pragma once

#include "srmds/core/macros.hpp"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds {

inline constexpr double kSgeEps = 1e-5;
inline constexpr int kSgeMaxGroups = 8;

// G = min(8, C) groups (SPEC §2).
SRMDS_HOST_DEVICE int sge_groups(int channels) { return channels < kSgeMaxGroups ? channels : kSgeMaxGroups; }

// The gate s = sigmoid(w n + b).
template <class A>
SRMDS_HOST_DEVICE A sge_gate(A norm, A w, A b) {
  return sigmoid_of(w * norm + b);
}

// de_i from dt_i, the normalised n_i and the group's sums (see the header).
template <class A>
SRMDS_HOST_DEVICE A sge_energy_grad(A dt, A norm, A s1, A s2, A w, A sigma, long long m) {
  const A mm = static_cast<A>(m);
  A g = (dt - s1 / mm) / (sigma + static_cast<A>(kSgeEps));
  if (sigma > A(0)) g -= s2 * norm / ((mm - A(1)) * sigma);
  return w * g;
}

}  // namespace srmds
