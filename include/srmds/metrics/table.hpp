// A plain-text table of the metrics gathered by a MetricsAccumulator (srmds eval), percent values:
//
//   metric          micro   per-image
//   sensitivity   91.50 %     90.12 %
//   specificity   99.50 %     99.48 %
//   precision     72.80 %     70.01 %
//   dice          80.10 %     78.64 %
//   images 12, pixels 3145728: TP 12345, FP 678, TN 3120000, FN 12705
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include "srmds/metrics/accumulator.hpp"
#include "srmds/metrics/inf_net.hpp"

namespace srmds {

namespace detail {
inline std::string percent_cell(double v, int digits) {
  char buf[64];
  if (std::isnan(v))
    std::snprintf(buf, sizeof buf, "%*s", 8 + digits, "-");
  else
    std::snprintf(buf, sizeof buf, "%*.*f %%", 6 + digits, digits, 100.0 * v);
  return buf;
}
}  // namespace detail

inline std::string format_metrics_table(const MetricsAccumulator& acc, int digits = 2) {
  const MetricValues mi = acc.micro(), pi = acc.per_image_mean();
  const char* names[4] = {"sensitivity", "specificity", "precision", "dice"};
  const double micro[4] = {mi.sensitivity, mi.specificity, mi.precision, mi.dice};
  const double per[4] = {pi.sensitivity, pi.specificity, pi.precision, pi.dice};
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-12s %*s %*s\n", "metric", 8 + digits, "micro", 11 + digits, "per-image");
  std::string out = buf;
  for (int k = 0; k < 4; ++k) {
    std::snprintf(buf, sizeof buf, "%-12s %s   %s\n", names[k], detail::percent_cell(micro[k], digits).c_str(),
                  detail::percent_cell(per[k], digits).c_str());
    out += buf;
  }
  const Confusion& c = acc.pooled();
  std::snprintf(buf, sizeof buf, "images %lld, pixels %lld: TP %lld, FP %lld, TN %lld, FN %lld\n",
                static_cast<long long>(acc.images()), static_cast<long long>(c.total()), static_cast<long long>(c.tp),
                static_cast<long long>(c.fp), static_cast<long long>(c.tn), static_cast<long long>(c.fn));
  out += buf;
  return out;
}

// The Inf-Net metrics (metrics/inf_net.hpp) as fractions, the way the COVID-SemiSeg papers print them:
//
//   Inf-Net metrics over 48 slices (per slice, then averaged; mean/max over 256 thresholds):
//     Dice@0.5 0.7380   meanDic 0.6820   maxDic 0.7460
//     meanSen  0.6920   meanSpe 0.9430   meanPre 0.7250
inline std::string format_inf_net_table(const InfNetValues& v) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "Inf-Net metrics over %lld slices (per slice, then averaged; mean/max over 256 thresholds):\n"
                "  Dice@0.5 %.4f   meanDic %.4f   maxDic %.4f\n"
                "  meanSen  %.4f   meanSpe %.4f   meanPre %.4f\n",
                static_cast<long long>(v.slices), v.dice_at_half, v.mean_dice, v.max_dice, v.mean_sensitivity,
                v.mean_specificity, v.mean_precision);
  return buf;
}

}  // namespace srmds
