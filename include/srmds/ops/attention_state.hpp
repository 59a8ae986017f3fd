// The tensors that the attention ops (ops/sge.hpp, ops/cbam.hpp, ops/psa.hpp) save in forward
// for backward, and PSA's parameter set. Shared by the checked ops, the CPU implementations and
// the CUDA kernels; depends on core/ only. Every saved tensor is contiguous (allocated by the
// ops' *_saved_for).
#pragma once

#include <array>
#include <cstdint>

#include "srmds/core/context.hpp"
#include "srmds/core/tensor.hpp"

namespace srmds {

// SGE with G groups.
template <class T, class D>
struct SgeSaved {
  Tensor<T, D> mean;   // (N, C) g_c = mean_hw x_c
  Tensor<T, D> norm;   // (N, G, H, W) normalised energy n
  Tensor<T, D> stdev;  // (N, G) unbiased standard deviation sigma of the energy (without eps)
};

// CBAM with hidden width h.
template <class T, class D>
struct CbamSaved {
  Tensor<T, D> avg, max;                // (N, C) mean and max over H, W of x
  Tensor<int32_t, D> max_index;         // (N, C) first h * W + w where the max is
  Tensor<T, D> hidden_avg, hidden_max;  // (N, h) ReLU(W1 avg), ReLU(W1 max)
  Tensor<T, D> scale;                   // (N, C) channel gate a
  Tensor<T, D> pooled;                  // (N, 2, H, W) mean and max over channels of x a
  Tensor<int32_t, D> pooled_index;      // (N, 1, H, W) first channel of that max
  Tensor<T, D> gate;                    // (N, 1, H, W) spatial gate m
};

// PSA's twelve parameters (or their gradients), C channels, Ch = C / 2:
//   ch_wv (Ch, C, 1, 1) + (Ch), ch_wq (1, C, 1, 1) + (1), ch_wz (C, Ch, 1, 1) + (C),
//   ch_ln (C) + (C), sp_wv (Ch, C, 1, 1) + (Ch), sp_wq (Ch, C, 1, 1) + (Ch).
inline constexpr const char* kPsaParamNames[12] = {"ch_wv.weight", "ch_wv.bias", "ch_wq.weight", "ch_wq.bias",
                                                   "ch_wz.weight", "ch_wz.bias", "ch_ln.weight", "ch_ln.bias",
                                                   "sp_wv.weight", "sp_wv.bias", "sp_wq.weight", "sp_wq.bias"};

template <class P>
struct PsaSet {
  P ch_wv_weight, ch_wv_bias, ch_wq_weight, ch_wq_bias, ch_wz_weight, ch_wz_bias;
  P ch_ln_weight, ch_ln_bias, sp_wv_weight, sp_wv_bias, sp_wq_weight, sp_wq_bias;

  // The members in state_dict order (names in kPsaParamNames).
  std::array<P, 12> items() const {
    return {ch_wv_weight, ch_wv_bias, ch_wq_weight, ch_wq_bias, ch_wz_weight, ch_wz_bias,
            ch_ln_weight, ch_ln_bias, sp_wv_weight, sp_wv_bias, sp_wq_weight, sp_wq_bias};
  }
};
template <class T, class D>
using PsaWeights = PsaSet<const Tensor<T, D>*>;
template <class T, class D>
using PsaGrads = PsaSet<Tensor<T, D>*>;

// The shape of every PSA parameter for C channels, in PsaSet order.
inline PsaSet<Shape> psa_param_shapes(int64_t c) {
  const int64_t ch = c / 2;
  return {Shape{ch, c, 1, 1}, Shape{ch}, Shape{1, c, 1, 1},  Shape{1},  Shape{c, ch, 1, 1}, Shape{c},
          Shape{c},           Shape{c},  Shape{ch, c, 1, 1}, Shape{ch}, Shape{ch, c, 1, 1}, Shape{ch}};
}

// PSA, C channels, Ch = C / 2.
template <class T, class D>
struct PsaSaved {
  Tensor<T, D> q;        // (N, 1, H, W) softmax over H, W of ch_wq x
  Tensor<T, D> yq;       // (N, C) sum_hw x q
  Tensor<T, D> z;        // (N, Ch) ch_wv applied to yq (= sum_hw (ch_wv x) q)
  Tensor<T, D> ln_norm;  // (N, C) normalised ch_wz z
  Tensor<T, D> ln_rstd;  // (N) 1 / sqrt(var + eps) of ch_wz z
  Tensor<T, D> scale;    // (N, C) channel gate a
  Tensor<T, D> mean;     // (N, C) mean_hw x
  Tensor<T, D> sq;       // (N, Ch) softmax over channels of sp_wq mean_hw x
  Tensor<T, D> u;        // (N, C) sum_j sq_j sp_wv[j, :]
  Tensor<T, D> gate;     // (N, 1, H, W) spatial gate m
};

}  // namespace srmds
