// BCE + soft-Dice loss of one scale (SPEC §3), value and gradient in one call.
// For logits z (N, 1, h, w), targets y (N, 1, h, w) in [0, 1], p = sigmoid(z), M = h w:
//   L = (1 / (N M)) sum bce(z, y) + lambda (1 - (1 / N) sum_n (2 I_n + s) / (P_n + Y_n + s))
//   I_n = sum p y, P_n = sum p, Y_n = sum y over sample n, s = 1e-5, lambda = dice_weight >= 0
//   (SPEC §3, default 0.5; 0 is BCE alone)
// When dz is not null writes (mode) dz = weight * dL/dz. dz may be z itself (in place).
//
//   bce_dice_loss_to(..., out)   L stays on the device (LossOutput: one-element double tensors, e.g.
//                                slots of a per-step buffer): no host wait on any backend
//   bce_dice_loss(...)           returns L (unweighted): the same, then one read of the value (on a
//                                GPU one copy and one wait)
// Per-element math: ops/math/bce_dice.hpp. The multi-scale deep-supervision loss built on it is
// losses/deep_supervision.hpp.
#pragma once

#include <cmath>

#include "srmds/cpu/bce_dice.hpp"
#include "srmds/ops/math/bce_dice.hpp"
#include "srmds/ops/dispatch.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds {

// Where bce_dice_loss_to leaves L: one-element double tensors on the loss's device (views such as
// buffer.samples(k, 1) of an (n, 1, 1, 1) buffer included), each optional (null: not written):
//   *value = L
//   *sum = 0 + sum_weight L (sum_mode Overwrite) or *sum += sum_weight L (Accumulate), in double,
//        rounded once per operation (a running weighted sum over scales, as the host would add).
template <class D>
struct LossOutput {
  Tensor<double, D>* value = nullptr;
  Tensor<double, D>* sum = nullptr;
  double sum_weight = 1;
  WriteMode sum_mode = WriteMode::Overwrite;
};

namespace detail {
template <class D>
void check_loss_slot(const char* name, const Tensor<double, D>* t) {
  if (!t) return;
  SRMDS_CHECK(t->numel() == 1 && t->data() != nullptr,
              "bce_dice_loss: the " << name << " output " << t->shape() << " must be one double");
}
}  // namespace detail

template <class T, class D>
void bce_dice_loss_to(Context<D>& ctx, const Tensor<T, D>& z,  // (N, 1, h, w) logits
                      const Tensor<T, D>& y,                   // (N, 1, h, w) targets in [0, 1]
                      double weight,
                      detail::non_deduced_t<Tensor<T, D>>* dz,  // (N, 1, h, w) or nullptr: weight * dL/dz
                      WriteMode mode, double dice_weight, const LossOutput<D>& out) {
  (void)ctx;
  detail::check_rank4("bce_dice_loss", "z", z);
  SRMDS_CHECK(z.shape().c() == 1, "bce_dice_loss: z " << z.shape() << " must have one channel");
  SRMDS_CHECK(z.numel() > 0 && !z.empty(), "bce_dice_loss: z " << z.shape() << " is empty");
  detail::check_same_shape("bce_dice_loss", "z", z, "y", y);
  if (dz) detail::check_same_shape("bce_dice_loss", "z", z, "dz", *dz);
  SRMDS_CHECK(std::isfinite(weight), "bce_dice_loss: weight " << weight << " is not finite");
  SRMDS_CHECK(std::isfinite(dice_weight) && dice_weight >= 0,
              "bce_dice_loss: dice_weight " << dice_weight << " must be finite and >= 0");
  detail::check_loss_slot("value", out.value);
  detail::check_loss_slot("sum", out.sum);
  SRMDS_CHECK(!(out.value && out.sum && out.value->data() == out.sum->data()),
              "bce_dice_loss: the value and sum outputs are the same double");
  SRMDS_CHECK(std::isfinite(out.sum_weight), "bce_dice_loss: sum weight " << out.sum_weight << " is not finite");
  if constexpr (is_cpu_v<D>) {
    const double loss = cpu::bce_dice_loss(z, y, weight, dice_weight, dz, mode);
    if (out.value) *out.value->data() = loss;
    if (out.sum) {
      double& s = *out.sum->data();
      s = (out.sum_mode == WriteMode::Accumulate ? s : 0.0) + out.sum_weight * loss;
    }
  } else {
#if SRMDS_WITH_CUDA
    cuda::LossSink sink;
    sink.value = out.value ? out.value->data() : nullptr;
    sink.sum = out.sum ? out.sum->data() : nullptr;
    sink.sum_weight = out.sum_weight;
    sink.sum_accumulate = out.sum_mode == WriteMode::Accumulate;
    cuda::bce_dice_loss(ctx, z, y, weight, dice_weight, dz, mode, sink);
#else
    static_assert(is_cpu_v<D>, "srmds was built without the CUDA backend");
#endif
  }
}

template <class T, class D>
double bce_dice_loss(Context<D>& ctx, const Tensor<T, D>& z,  // (N, 1, h, w) logits
                     const Tensor<T, D>& y,                   // (N, 1, h, w) targets in [0, 1]
                     double weight,
                     detail::non_deduced_t<Tensor<T, D>>* dz,  // (N, 1, h, w) or nullptr: weight * dL/dz
                     WriteMode mode, double dice_weight = kDiceWeight) {
  Tensor<double, D> value(Shape{1, 1, 1, 1}, ctx);
  LossOutput<D> out;
  out.value = &value;
  bce_dice_loss_to(ctx, z, y, weight, dz, mode, dice_weight, out);
  if constexpr (is_cpu_v<D>)
    return value[0];
  else
    return to_host(ctx, value)[0];
}

}  // namespace srmds
