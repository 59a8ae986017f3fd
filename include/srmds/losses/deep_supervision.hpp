// Multi-scale deep-supervision loss (SPEC §3).
//
// Logits z_s (N, 1, H / 2^s, W / 2^s), s = 0..3, full-resolution mask (N, 1, H, W):
//   ds native (default): y_s = downsample_target(mask, 2^s, target)   (y_0 = mask)
//                        L_s = bce_dice(z_s, y_s)
//   ds upsample:         u_s = upsample_bilinear(z_s -> (H, W), align_corners)   (u_0 = z_0)
//                        with align_corners from the network's NetConfig
//                        L_s = bce_dice(u_s, mask),  dz_s = upsample_bilinear_backward(dL_s / du_s)
//   ds off:              L = L_0 (weight 1); z_1..z_3 are not read and may be empty
//   L = sum_s w_s L_s,  w = [8, 4, 2, 1] / 15 by default;  dlogits[s] = w_s dL_s / dz_s.
//   bce_dice uses the Dice weight dice_weight (SPEC §3, default 0.5) at every scale.
// With ds off dlogits[1..3] are left empty (an empty tensor means "no gradient").
// Targets, upsampled logits and their gradients live in buffers owned by the loss and reused.
//
// L stays on the device: forward_backward_to / forward_to write L into a one-element double tensor
// on D (e.g. the trainer's slot for this step) with no host wait: each scale's finalize adds
// w_s L_s to it in scale order, starting from 0, as the host sum 0 + w_0 L_0 + w_1 L_1 + ... rounds.
// forward_backward / forward return L as a double: the same into the loss's own five doubles
// (L_0..L_3 and L), read back once (on a GPU one copy and one wait); they also keep scale_losses().
#pragma once

#include <array>
#include <cmath>

#include "srmds/nets/config.hpp"
#include "srmds/ops/bce_dice.hpp"
#include "srmds/ops/downsample_target.hpp"
#include "srmds/ops/transfer.hpp"
#include "srmds/ops/upsample.hpp"

namespace srmds {

enum class DsMode { Native, Upsample, Off };

struct DeepSupervisionOptions {
  TargetMode target = TargetMode::Average;  // how y_s is made (ds native only)
  DsMode ds = DsMode::Native;
  std::array<double, 4> weights = {8.0 / 15, 4.0 / 15, 2.0 / 15, 1.0 / 15};  // w_0..w_3 (not with ds off)
  double dice_weight = kDiceWeight;  // lambda in L_s = BCE + lambda (1 - Dice); 0: BCE alone
};

template <class T, class D>
class DeepSupervisionLoss {
public:
  static constexpr int kScales = 4;
  using Logits = std::array<Tensor<T, D>, kScales>;

  // The upsampling of ds upsample follows the network's config (align_corners), as the network's
  // own upsampling does.
  explicit DeepSupervisionLoss(const NetConfig& net, const DeepSupervisionOptions& options = {})
      : m_options(options), m_align_corners(net.align_corners) {
    for (int s = 0; s < kScales; ++s)
      SRMDS_CHECK(std::isfinite(options.weights[s]) && options.weights[s] >= 0,
                  "DeepSupervisionLoss: weight " << s << " = " << options.weights[s] << " is not finite and >= 0");
    SRMDS_CHECK(std::isfinite(options.dice_weight) && options.dice_weight >= 0,
                "DeepSupervisionLoss: dice_weight " << options.dice_weight << " is not finite and >= 0");
  }

  const DeepSupervisionOptions& options() const { return m_options; }
  bool align_corners() const { return m_align_corners; }
  // Whether scale s contributes to the loss.
  bool uses_scale(int s) const { return s == 0 || m_options.ds != DsMode::Off; }
  // The weight of L_s in L (1 for s = 0 and 0 otherwise with ds off).
  double scale_weight(int s) const {
    if (m_options.ds == DsMode::Off) return s == 0 ? 1.0 : 0.0;
    return m_options.weights[s];
  }

  // Returns L and writes dlogits[s] = w_s dL_s/dz_s (Overwrite). A dlogits[s] that already has the
  // shape of z_s is written in place (it may be a view); otherwise it is (re)allocated.
  double forward_backward(Context<D>& ctx, const Logits& logits,
                          const Tensor<T, D>& mask,  // (N, 1, H, W) binary
                          Logits& dlogits) {
    return run_and_read(ctx, logits, mask, &dlogits);
  }

  // L only (validation).
  double forward(Context<D>& ctx, const Logits& logits, const Tensor<T, D>& mask) {
    return run_and_read(ctx, logits, mask, nullptr);
  }

  // The same with L left on the device: *loss = L (one double on D, e.g. buffer.samples(k, 1)).
  // scale_losses() and last_loss() are not updated.
  void forward_backward_to(Context<D>& ctx, const Logits& logits, const Tensor<T, D>& mask, Logits& dlogits,
                           Tensor<double, D>& loss) {
    run(ctx, logits, mask, &dlogits, loss, nullptr);
  }
  void forward_to(Context<D>& ctx, const Logits& logits, const Tensor<T, D>& mask, Tensor<double, D>& loss) {
    run(ctx, logits, mask, nullptr, loss, nullptr);
  }

  // The unweighted L_s of the last double-returning call (0 for scales not used) and L itself.
  const std::array<double, kScales>& scale_losses() const { return m_scale_losses; }
  double last_loss() const { return m_last_loss; }

private:
  static void ensure_shape(Context<D>& ctx, Tensor<T, D>& t, const Shape& s) {
    if (t.shape() != s || t.data() == nullptr) t = Tensor<T, D>(s, ctx);
  }

  // run() into m_values ((5, 1, 1, 1): L_0..L_3 and L), then one read.
  double run_and_read(Context<D>& ctx, const Logits& logits, const Tensor<T, D>& mask, Logits* dlogits) {
    ensure_values(ctx);
    Tensor<double, D> total = m_values.samples(kScales, 1);
    run(ctx, logits, mask, dlogits, total, &m_values);
    Tensor<double, Cpu> host_copy;
    const double* v = nullptr;
    if constexpr (is_cpu_v<D>) {
      v = m_values.data();
    } else {
      host_copy = to_host(ctx, m_values);
      v = host_copy.data();
    }
    for (int s = 0; s < kScales; ++s) m_scale_losses[s] = uses_scale(s) ? v[s] : 0.0;
    m_last_loss = v[kScales];
    return m_last_loss;
  }

  void ensure_values(Context<D>& ctx) {
    if (m_values.data() == nullptr) m_values = Tensor<double, D>(Shape{kScales + 1, 1, 1, 1}, ctx);
  }

  // total = sum_s w_s L_s (0 + w_0 L_0 + ..., in scale order); with `values`, values[s] = L_s too.
  void run(Context<D>& ctx, const Logits& logits, const Tensor<T, D>& mask, Logits* dlogits,
           Tensor<double, D>& total, Tensor<double, D>* values) {
    detail::check_rank4("deep_supervision", "mask", mask);
    const Shape& ms = mask.shape();
    SRMDS_CHECK(ms.c() == 1 && ms.numel() > 0, "deep_supervision: mask " << ms << " must be (N, 1, H, W), non-empty");
    SRMDS_CHECK(total.numel() == 1 && total.data() != nullptr,
                "deep_supervision: the loss output " << total.shape() << " must be one double");
    const bool off = m_options.ds == DsMode::Off;
    if (!off)
      SRMDS_CHECK(ms.h() % 8 == 0 && ms.w() % 8 == 0,
                  "deep_supervision: mask " << ms << " H and W must be multiples of 8 for 4 scales");
    for (int s = 0; s < kScales; ++s) {
      if (!uses_scale(s)) continue;
      const Shape want{ms.n(), 1, ms.h() >> s, ms.w() >> s};
      SRMDS_CHECK(logits[s].shape() == want, "deep_supervision: logits[" << s << "] " << logits[s].shape()
                                                                        << " expected " << want << " for mask " << ms);
    }

    for (int s = 0; s < kScales; ++s) {
      if (!uses_scale(s)) {
        if (dlogits) (*dlogits)[s] = Tensor<T, D>();
        continue;
      }
      const double w = scale_weight(s);
      Tensor<T, D>* dz = nullptr;
      if (dlogits) {
        ensure_shape(ctx, (*dlogits)[s], logits[s].shape());
        dz = &(*dlogits)[s];
      }
      Tensor<double, D> value;
      if (values) value = values->samples(s, 1);
      LossOutput<D> out;
      out.value = values ? &value : nullptr;
      out.sum = &total;
      out.sum_weight = w;
      out.sum_mode = s == 0 ? WriteMode::Overwrite : WriteMode::Accumulate;  // scale 0 is always used
      const double lambda = m_options.dice_weight;
      if (s == 0) {
        bce_dice_loss_to(ctx, logits[0], mask, w, dz, WriteMode::Overwrite, lambda, out);
      } else if (m_options.ds == DsMode::Native) {
        ensure_shape(ctx, m_targets[s], logits[s].shape());
        downsample_target(ctx, mask, m_targets[s], 1 << s, m_options.target);
        bce_dice_loss_to(ctx, logits[s], m_targets[s], w, dz, WriteMode::Overwrite, lambda, out);
      } else {  // Upsample
        ensure_shape(ctx, m_upsampled[s], ms);
        upsample_bilinear_forward(ctx, logits[s], m_upsampled[s], m_align_corners);
        Tensor<T, D>* dup = nullptr;
        if (dz) {
          ensure_shape(ctx, m_dupsampled[s], ms);
          dup = &m_dupsampled[s];
        }
        bce_dice_loss_to(ctx, m_upsampled[s], mask, w, dup, WriteMode::Overwrite, lambda, out);
        if (dz) upsample_bilinear_backward(ctx, *dup, *dz, m_align_corners, WriteMode::Overwrite);
      }
    }
  }

  DeepSupervisionOptions m_options;
  bool m_align_corners;
  std::array<Tensor<T, D>, kScales> m_targets;     // y_s, ds native
  std::array<Tensor<T, D>, kScales> m_upsampled;   // u_s, ds upsample
  std::array<Tensor<T, D>, kScales> m_dupsampled;  // dL/du_s, ds upsample
  Tensor<double, D> m_values;                      // L_0..L_3, L of the double-returning calls
  std::array<double, kScales> m_scale_losses{};
  double m_last_loss = 0;
};

}  // namespace srmds
