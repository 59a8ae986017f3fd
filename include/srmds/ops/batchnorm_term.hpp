// One term of a sum of training-mode BatchNorms, y = sum_k BN_k(x_k) (ops/batchnorm_sum.hpp): an
// SRFV block's branch BNs, whose outputs are summed. Pointers to the caller's tensors; which ones
// each op reads or writes is said there.
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds {

// The most terms one batchnorm_sum call takes: an SRFV block's four conv branches and its identity.
inline constexpr int kMaxBatchNormTerms = 5;

template <class T, class D>
struct BatchNormTerm {
  const Tensor<T, D>* x = nullptr;       // (N, C, H, W) input of BN_k (any batch stride)
  const Tensor<T, D>* gamma = nullptr;   // (C)
  const Tensor<T, D>* beta = nullptr;    // (C), forward
  Tensor<T, D>* running_mean = nullptr;  // (C), forward: updated
  Tensor<T, D>* running_var = nullptr;   // (C), forward: updated
  Tensor<T, D>* save_mean = nullptr;     // (C), written by the forward, read by the backward
  Tensor<T, D>* save_invstd = nullptr;   // (C), likewise
  Tensor<T, D>* dx = nullptr;            // (N, C, H, W), backward: dL/dx_k or nullptr (not wanted)
  WriteMode dx_mode = WriteMode::Overwrite;
  Tensor<T, D>* dgamma = nullptr;        // (C), backward, or nullptr
  Tensor<T, D>* dbeta = nullptr;         // (C), backward, or nullptr
};

}  // namespace srmds
