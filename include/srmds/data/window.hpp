// Intensity windowing of CT volumes (SPEC §7).
//
// With a window [lo, hi] (Hounsfield units; the lung window is [-1250, 250]):
//     y = (min(max(x, lo), hi) - lo) / (hi - lo)            in [0, 1]
// Without one (std::nullopt, "--window none", for sets that are not in HU), min-max per volume:
//     y = (x - min) / (max - min)   over the volume's finite values; y = 0 when max == min.
// Non-finite inputs: NaN -> 0; +-inf clamp to 1 / 0. Computed in double, stored as float.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include "srmds/core/error.hpp"

namespace srmds {

using Window = std::optional<std::array<double, 2>>;

inline Window lung_window() { return std::array<double, 2>{-1250.0, 250.0}; }

// x -> y over n values (x and y may alias).
inline void apply_window(const float* x, int64_t n, const Window& window, float* y) {
  double lo, hi;
  if (window) {
    lo = (*window)[0];
    hi = (*window)[1];
    SRMDS_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo < hi,
                "apply_window: window [" << lo << ", " << hi << "] must be finite with lo < hi");
  } else {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[i];
      if (!std::isfinite(v)) continue;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    if (!(lo < hi)) {  // constant, empty or all non-finite
      for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
      return;
    }
  }
  const double inv = 1.0 / (hi - lo);
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    if (std::isnan(v)) {
      y[i] = 0.0f;
      continue;
    }
    const double c = v < lo ? lo : (v > hi ? hi : v);
    y[i] = static_cast<float>((c - lo) * inv);
  }
}

}  // namespace srmds
