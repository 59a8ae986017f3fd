// Console formatting of training progress (srmds train, demo), one line each:
//   epoch 3/20  step 120/800  loss 0.4123  lr 4.87e-04  52.3 img/s  ETA 1m02s
//   epoch 3/20 done in 4.1 s: train loss 0.4020, val dice 81.23 % (micro) 79.80 % (per-image) *best
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include "srmds/train/trainer.hpp"

namespace srmds::cli {

// "1h02m", "3m07s", "42s" ("-" for a negative or non-finite duration).
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const long long s = std::llround(seconds);
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

inline std::string format_progress(const TrainProgress& p) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "epoch %d/%d  step %lld/%lld  loss %.4f  lr %.3g  %.1f img/s  ETA %s", p.epoch + 1,
                p.epochs, static_cast<long long>(p.step), static_cast<long long>(p.total_steps), p.loss, p.lr,
                p.images_per_s, format_duration(p.eta_s).c_str());
  return buf;
}

inline std::string format_epoch(const EpochReport& r, int epochs) {
  char buf[240];
  int n = std::snprintf(buf, sizeof buf, "epoch %d/%d done in %.1f s: train loss %.4f", r.epoch + 1, epochs, r.seconds,
                        r.train_loss);
  if (r.validated && n > 0 && n < static_cast<int>(sizeof buf))
    std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), ", val dice %.2f %% (micro) %.2f %% (per-image)%s",
                  100.0 * r.val_micro.dice, 100.0 * r.val_per_image.dice, r.best ? " *best" : "");
  return buf;
}

}  // namespace srmds::cli
