// Small dense algebra shared by the attention ops (SGE, CBAM, PSA) on the CPU (cpu/) and in the
// CUDA kernels (kernels/): every function computes ONE output element, so the CPU loops over the
// outputs and a CUDA block spreads them over its threads, both with the same order of operations
// per output. Matrices are row-major; A is the accumulation type (double in both backends).
//
//   affine_out     z_j = b_j + sum_k W[j, k] in_k                W (rows x n_in), b optional
//   transpose_out  g_k = sum_j W[j, k] in_j                     (W^T in)
//   batch_outer    G[p, q] = sum_n a[n, p] b[n, q]             (b null: sum_n a[n, p])
//   softmax_stats  max and sum of exp(v - max) of a short vector
//   layer_norm_stats  mean and 1 / sqrt(biased variance + eps) of a short vector
#pragma once

#include "srmds/core/macros.hpp"
#include "srmds/ops/math/scalar.hpp"

namespace srmds {

template <class A, class T, class V>
SRMDS_HOST_DEVICE A affine_out(const T* w, const T* b, const V* in, int n_in, int j) {
  A z = b ? static_cast<A>(b[j]) : A(0);
  const T* row = w + static_cast<long long>(j) * n_in;
  for (int k = 0; k < n_in; ++k) z += static_cast<A>(row[k]) * static_cast<A>(in[k]);
  return z;
}

// W is (rows x cols); returns sum_j W[j, k] in_j.
template <class A, class T, class V>
SRMDS_HOST_DEVICE A transpose_out(const T* w, const V* in, int rows, int cols, int k) {
  A g = A(0);
  for (int j = 0; j < rows; ++j) g += static_cast<A>(w[static_cast<long long>(j) * cols + k]) * static_cast<A>(in[j]);
  return g;
}

// a is (n x P), b (n x Q) or null; returns sum_i a[i, p] b[i, q] (or sum_i a[i, p]).
template <class A, class U, class V>
SRMDS_HOST_DEVICE A batch_outer(const U* a, const V* b, long long n, int P, int Q, int p, int q) {
  A g = A(0);
  for (long long i = 0; i < n; ++i) {
    const A av = static_cast<A>(a[i * P + p]);
    g += b ? av * static_cast<A>(b[i * Q + q]) : av;
  }
  return g;
}

// max_k v_k and sum_k exp(v_k - max).
template <class A, class V>
SRMDS_HOST_DEVICE void softmax_stats(const V* v, int n, A& vmax, A& sum) {
  vmax = static_cast<A>(v[0]);
  for (int k = 1; k < n; ++k)
    if (static_cast<A>(v[k]) > vmax) vmax = static_cast<A>(v[k]);
  sum = A(0);
  for (int k = 0; k < n; ++k) sum += math::exp(static_cast<A>(v[k]) - vmax);
}

// Mean and 1 / sqrt(var + eps) of v (biased variance, two passes).
template <class A, class V>
SRMDS_HOST_DEVICE void layer_norm_stats(const V* v, int n, A eps, A& mean, A& rstd) {
  A s = A(0);
  for (int k = 0; k < n; ++k) s += static_cast<A>(v[k]);
  mean = s / static_cast<A>(n);
  A q = A(0);
  for (int k = 0; k < n; ++k) {
    const A d = static_cast<A>(v[k]) - mean;
    q += d * d;
  }
  rstd = A(1) / math::sqrt(q / static_cast<A>(n) + eps);
}

}  // namespace srmds
