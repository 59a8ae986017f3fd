// Per-element terms of the BCE + soft-Dice loss (SPEC §3), shared by the CPU loop and the CUDA
// kernels. For one scale with logits z (N, 1, h, w), targets y in [0, 1], p = sigmoid(z), M = h w,
// Dice weight lambda (SPEC §3 dice_weight, default 0.5; the paper's ablation compares 0, 0.5, 1):
//   L = (1 / (N M)) sum bce(z, y) + lambda (1 - (1 / N) sum_n dice_n)
//   dice_n = (2 I_n + s) / (P_n + Y_n + s),  I = sum p y, P = sum p, Y = sum y, s = 1e-5
//   dL/dz = (p - y) / (N M) - (lambda / N) p (1 - p) (2 y (P + Y + s) - (2 I + s)) / (P + Y + s)^2
#pragma once

#include <cmath>

#include "srmds/ops/math/scalar.hpp"

namespace srmds {

constexpr double kDiceSmooth = 1e-5;
constexpr double kDiceWeight = 0.5;  // the default Dice weight lambda

// Binary cross-entropy with logits, stable for any z: max(z, 0) - z y + log(1 + exp(-|z|)).
template <class T>
SRMDS_HOST_DEVICE T bce_with_logits(T z, T y) {
  const T az = z < T(0) ? -z : z;
  return (z > T(0) ? z : T(0)) - z * y + math::log1p(math::exp(-az));
}

// dL/dz for one element given its sample's Dice sums.
//   inv_nm = 1 / (N M), inv_n = 1 / N, weight = scale weight w_s, dice_weight = lambda.
template <class T>
SRMDS_HOST_DEVICE T bce_dice_grad(T p, T y, T inter, T psum, T ysum, T inv_nm, T inv_n, T weight, T dice_weight) {
  const T denom = psum + ysum + T(kDiceSmooth);
  const T ddice_dp = (T(2) * y * denom - (T(2) * inter + T(kDiceSmooth))) / (denom * denom);
  return weight * ((p - y) * inv_nm - dice_weight * inv_n * p * (T(1) - p) * ddice_dp);
}

// The loss from its sums: bce_total / (N M) + lambda (1 - dice_total / N).
SRMDS_HOST_DEVICE double bce_dice_value(double bce_total, double dice_total, double inv_nm, double inv_n,
                                         double dice_weight) {
  return bce_total * inv_nm + dice_weight * (1.0 - dice_total * inv_n);
}

}  // namespace srmds
