// Polarized self-attention (PSA, parallel form): constants and per-element pieces shared by the
// CPU backend (cpu/psa.hpp) and the CUDA kernels (kernels/psa.cu).
//
// The op never forms the (N, C/2, H, W) maps of SPEC §2: both branches are linear in them, so
//   z  = sum_hw (Wv x + bv) q          = Wv (sum_hw x q) + bv            (sum_hw q = 1)
//   s  = sum_j q'_j (Wv' x + bv')_j    = u . x + q' . bv',  u = Wv'^T q'
//   mean_hw (Wq' x) + bq'              = Wq' mean_hw x + bq'
// which is the same function at O(C H W) cost instead of O(C^2 H W).
#pragma once

#include "srmds/core/macros.hpp"

namespace srmds {

inline constexpr double kPsaLnEps = 1e-5;

// LayerNorm backward for one element: dx_k = rstd (dn_k - mean(dn) - n_k mean(dn n)).
template <class A>
SRMDS_HOST_DEVICE A layer_norm_input_grad(A dn, A norm, A mean_dn, A mean_dn_norm, A rstd) {
  return rstd * (dn - mean_dn - norm * mean_dn_norm);
}

}  // namespace srmds
