// Per-channel BatchNorm training statistics on the device, shared by the single BN
// (kernels/batchnorm.cu) and the sum of BNs (kernels/batchnorm_sum.cu); internal, not installed.
// From the shifted sums S1 = sum (x - K), S2 = sum (x - K)^2 over M values (K = bn_shift):
//   mean = K + S1/M,  var = max(S2/M - (S1/M)^2, 0) (biased),  invstd = 1/sqrt(var + eps),
//   running_mean <- (1 - m) running_mean + m mean,  running_var <- (1 - m) running_var + m var M/(M - 1)
// and the affine of the normalisation y = a x + b, a = gamma invstd, b = beta - mean gamma invstd
// (in double, rounded once, as the CPU backend does).
#pragma once

#include <cmath>
#include <cstdint>

namespace srmds::cuda::detail {

// K_c: the running mean, or 0 where it is not finite (a bad running mean must not reach the batch's
// statistics, which do not depend on it).
__device__ __forceinline__ double bn_shift(const float* running_mean, int64_t c) {
  const double k = running_mean[c];
  return isfinite(k) ? k : 0.0;
}

__device__ __forceinline__ void affine_of(double gamma, double beta, double mean, double invstd, float* a, float* b) {
  *a = static_cast<float>(gamma * invstd);
  *b = static_cast<float>(beta - mean * gamma * invstd);
}

// One channel's BN tensors in a training forward (pointers to channel 0 of each (C) tensor).
struct BnChannelStats {
  const float *gamma, *beta;
  float *save_mean, *save_invstd, *running_mean, *running_var;
};

// Channel c's statistics from its shifted sums s1, s2 over `count` values: saved, running
// statistics updated (the shift read before), and the affine written to *a, *b.
__device__ __forceinline__ void bn_train_channel(const BnChannelStats& st, int64_t c, double s1, double s2,
                                                 double count, double momentum, double eps, float* a, float* b) {
  const double shift = bn_shift(st.running_mean, c);  // K_c of the sums: read before the update below
  const double d = s1 / count;
  const double mean = shift + d;
  const double var = fmax(s2 / count - d * d, 0.0);
  const double invstd = 1.0 / std::sqrt(var + eps);
  const double unbiased = count > 1.0 ? var * count / (count - 1.0) : var;
  st.save_mean[c] = static_cast<float>(mean);
  st.save_invstd[c] = static_cast<float>(invstd);
  st.running_mean[c] = static_cast<float>((1.0 - momentum) * double(st.running_mean[c]) + momentum * mean);
  st.running_var[c] = static_cast<float>((1.0 - momentum) * double(st.running_var[c]) + momentum * unbiased);
  affine_of(st.gamma[c], st.beta[c], mean, invstd, a, b);
}

}  // namespace srmds::cuda::detail
