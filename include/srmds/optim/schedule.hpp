// Learning-rate schedule of SPEC §5: linear warm-up, then cosine decay to 0.
// `step` counts the updates already applied (0 for the first update); W = warmup_steps,
// T = total_steps, base = base_lr:
//   step < W:       lr = base (step + 1) / W                        (base / W for the first update,
//                                                                    base for update W - 1)
//   W <= step < T:  lr = base 0.5 (1 + cos(pi (step - W) / (T - W))) (base at step W, base / 2 midway)
//   step >= T:      lr = 0
// With W = 0 there is no warm-up. from_epochs() turns the SPEC's epochs into steps.
#pragma once

#include <cmath>
#include <cstdint>

#include "srmds/core/error.hpp"

namespace srmds {

class WarmupCosineSchedule {
public:
  WarmupCosineSchedule(double base_lr, int64_t warmup_steps, int64_t total_steps)
      : m_base(base_lr), m_warmup(warmup_steps), m_total(total_steps) {
    SRMDS_CHECK(std::isfinite(base_lr) && base_lr >= 0, "WarmupCosineSchedule: base lr " << base_lr << " must be >= 0");
    SRMDS_CHECK(warmup_steps >= 0 && total_steps >= warmup_steps,
                "WarmupCosineSchedule: need 0 <= warmup_steps (" << warmup_steps << ") <= total_steps (" << total_steps
                                                                 << ")");
  }

  // E.g. from_epochs(5e-4, 2, 300, batches_per_epoch): 2 epochs of warm-up within 300.
  static WarmupCosineSchedule from_epochs(double base_lr, int64_t warmup_epochs, int64_t epochs,
                                          int64_t steps_per_epoch) {
    SRMDS_CHECK(steps_per_epoch > 0, "WarmupCosineSchedule: steps per epoch " << steps_per_epoch << " must be > 0");
    return WarmupCosineSchedule(base_lr, warmup_epochs * steps_per_epoch, epochs * steps_per_epoch);
  }

  double lr(int64_t step) const {
    SRMDS_CHECK(step >= 0, "WarmupCosineSchedule::lr: step " << step << " < 0");
    if (step < m_warmup) return m_base * static_cast<double>(step + 1) / static_cast<double>(m_warmup);
    if (step >= m_total) return 0.0;
    const double progress = static_cast<double>(step - m_warmup) / static_cast<double>(m_total - m_warmup);
    return m_base * 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
  }

  double base_lr() const { return m_base; }
  int64_t warmup_steps() const { return m_warmup; }
  int64_t total_steps() const { return m_total; }

private:
  double m_base;
  int64_t m_warmup, m_total;
};

}  // namespace srmds
