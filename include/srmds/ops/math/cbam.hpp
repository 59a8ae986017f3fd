// CBAM's spatial gate: the 7x7 convolution (2 planes -> 1, padding 3, with bias) over the pooled
// map P = [mean_c y', max_c y'] of one sample, written as per-pixel taps shared by the CPU backend
// (cpu/cbam.hpp) and the CUDA kernels (kernels/cbam.cu):
//   L[i, j]         = b + sum_{k, p, q} W[k, p, q] P[k, i + p - 3, j + q - 3]     (zero outside)
//   dP[k, i, j]     = sum_{p, q} dL[i - p + 3, j - q + 3] W[k, p, q]
//   dW[k, p, q]     = sum_{i, j} dL[i, j] P[k, i + p - 3, j + q - 3]              (one term per pixel)
// A convolution with 2 input planes and 1 output is cheaper as these direct taps than as a GEMM,
// and the general conv2d op stays limited to the block's 1x1 / 1x3 / 3x1 / 3x3 kernels.
#pragma once

#include "srmds/core/macros.hpp"

namespace srmds {

inline constexpr int kCbamKernel = 7;
inline constexpr int kCbamPad = 3;
inline constexpr int kCbamTaps = 2 * kCbamKernel * kCbamKernel;  // spatial.weight (1, 2, 7, 7)

// L at pixel (i, j); pooled holds the two planes of h x w, weight the 98 taps.
template <class A, class T, class V>
SRMDS_HOST_DEVICE A cbam_spatial_logit(const V* pooled, int h, int w, int i, int j, const T* weight, T bias) {
  A z = static_cast<A>(bias);
  for (int k = 0; k < 2; ++k)
    for (int p = 0; p < kCbamKernel; ++p) {
      const int ii = i + p - kCbamPad;
      if (ii < 0 || ii >= h) continue;
      for (int q = 0; q < kCbamKernel; ++q) {
        const int jj = j + q - kCbamPad;
        if (jj < 0 || jj >= w) continue;
        z += static_cast<A>(weight[(k * kCbamKernel + p) * kCbamKernel + q]) *
             static_cast<A>(pooled[(static_cast<long long>(k) * h + ii) * w + jj]);
      }
    }
  return z;
}

// dP[k] at pixel (i, j) from the logit gradient plane dl (h x w).
template <class A, class T, class V>
SRMDS_HOST_DEVICE A cbam_spatial_input_grad(const V* dl, int h, int w, int k, int i, int j, const T* weight) {
  A g = A(0);
  for (int p = 0; p < kCbamKernel; ++p) {
    const int ii = i - p + kCbamPad;
    if (ii < 0 || ii >= h) continue;
    for (int q = 0; q < kCbamKernel; ++q) {
      const int jj = j - q + kCbamPad;
      if (jj < 0 || jj >= w) continue;
      g += static_cast<A>(dl[static_cast<long long>(ii) * w + jj]) *
           static_cast<A>(weight[(k * kCbamKernel + p) * kCbamKernel + q]);
    }
  }
  return g;
}

// Pixel (i, j)'s term of dW[tap], tap = (k * 7 + p) * 7 + q.
template <class A, class U, class V>
SRMDS_HOST_DEVICE A cbam_spatial_weight_term(const U* dl, const V* pooled, int h, int w, int tap, int i, int j) {
  const int k = tap / (kCbamKernel * kCbamKernel), p = (tap / kCbamKernel) % kCbamKernel, q = tap % kCbamKernel;
  const int ii = i + p - kCbamPad, jj = j + q - kCbamPad;
  if (ii < 0 || ii >= h || jj < 0 || jj >= w) return A(0);
  return static_cast<A>(dl[static_cast<long long>(i) * w + j]) *
         static_cast<A>(pooled[(static_cast<long long>(k) * h + ii) * w + jj]);
}

}  // namespace srmds
