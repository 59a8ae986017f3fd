// BCE + soft-Dice loss of one scale (SPEC §3), value and gradient in one call.
// For logits z (N, 1, h, w), targets y (N, 1, h, w) in [0, 1], p = sigmoid(z), M = h w:
//   L = (1 / (N M)) sum bce(z, y) + lambda (1 - (1 / N) sum_n (2 I_n + s) / (P_n + Y_n + s))
//   I_n = sum p y, P_n = sum p, Y_n = sum y over sample n, s = 1e-5, lambda = dice_weight >= 0
//   (SPEC §3, default 0.5; 0 is BCE alone)
// Returns L (unweighted); when dz is not null writes (mode) dz = weight * dL/dz.
// Per-element math: ops/math/bce_dice.hpp. dz may be z itself (in place). The multi-scale
// deep-supervision loss built on it is losses/deep_supervision.hpp.
#pragma once

#include <cmath>

#include "srmds/cpu/bce_dice.hpp"
#include "srmds/ops/math/bce_dice.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

template <class T, class D>
double bce_dice_loss(Context<D>& ctx, const Tensor<T, D>& z,  // (N, 1, h, w) logits
                     const Tensor<T, D>& y,                   // (N, 1, h, w) targets in [0, 1]
                     double weight,
                     detail::non_deduced_t<Tensor<T, D>>* dz,  // (N, 1, h, w) or nullptr: weight * dL/dz
                     WriteMode mode, double dice_weight = kDiceWeight) {
  (void)ctx;
  detail::check_rank4("bce_dice_loss", "z", z);
  SRMDS_CHECK(z.shape().c() == 1, "bce_dice_loss: z " << z.shape() << " must have one channel");
  SRMDS_CHECK(z.numel() > 0 && !z.empty(), "bce_dice_loss: z " << z.shape() << " is empty");
  detail::check_same_shape("bce_dice_loss", "z", z, "y", y);
  if (dz) detail::check_same_shape("bce_dice_loss", "z", z, "dz", *dz);
  SRMDS_CHECK(std::isfinite(weight), "bce_dice_loss: weight " << weight << " is not finite");
  SRMDS_CHECK(std::isfinite(dice_weight) && dice_weight >= 0,
              "bce_dice_loss: dice_weight " << dice_weight << " must be finite and >= 0");
  double loss = 0;
  SRMDS_DISPATCH(D, loss = cpu::bce_dice_loss(z, y, weight, dice_weight, dz, mode),
                 loss = cuda::bce_dice_loss(ctx, z, y, weight, dice_weight, dz, mode));
  return loss;
}

}  // namespace srmds
