// The literature's metrics for COVID-19 infection segmentation (SPEC §4): Inf-Net's
// EvaluationTool/main.m with Fmeasure_calu.m, used by most papers on the COVID-SemiSeg split.
// Per slice, from p = sigmoid(z_0) and the mask (lesion where mask >= 0.5):
//   Dice@0.5   Dice of the mask p >= 0.5, 0 where TP = 0 (Fmeasure_calu's rule), mean over slices.
//   sweep      p is quantised to 8 bits as a PNG of it stores it (q = floor(255 p + 0.5)), min-max
//              normalised per slice, m = (q - qmin) / (qmax - qmin) (MATLAB's mapminmax; a constant
//              map stays q / 255), and thresholded at the 256 levels t_k = (255 - k) / 255,
//              k = 0..255, with m >= t_k. At each level (Fmeasure_calu): Dice 2TP / (|pred| + |lesion|),
//              sensitivity TP / |lesion|, specificity TN / (TN + FP), precision TP / |pred|, each 0
//              where TP = 0; specificity 1 on a slice without background (main.m's 0/0 would make
//              the whole column NaN). Each is averaged over slices per level (main.m's column mean), then
//              meanX = the mean over the 256 levels and maxX = the best level.
// Exact from two 256-bin histograms per slice (q of lesion and of background pixels): m >= t is a
// threshold on q, since the normalisation is increasing.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "srmds/core/error.hpp"

namespace srmds {

struct InfNetValues {
  double dice_at_half = 0;                        // Dice@0.5
  double mean_dice = 0, max_dice = 0;             // meanDic, maxDic
  double mean_sensitivity = 0, max_sensitivity = 0;
  double mean_specificity = 0, max_specificity = 0;
  double mean_precision = 0, max_precision = 0;
  int64_t slices = 0;
};

class InfNetMetrics {
public:
  static constexpr int kLevels = 256;

  // One slice of n pixels: probabilities p in [0, 1] and its mask (lesion where mask >= 0.5).
  template <class P, class M>
  void add_slice(const P* p, const M* mask, int64_t n) {
    SRMDS_CHECK(n > 0, "InfNetMetrics::add_slice: a slice needs pixels, got " << n);
    std::array<int64_t, kLevels> lesion{}, background{};
    int64_t tp = 0, pred = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = static_cast<double>(p[i]);
      SRMDS_CHECK(v >= 0 && v <= 1, "InfNetMetrics::add_slice: probability " << v << " at pixel " << i << " is not in [0, 1]");
      const bool is_lesion = static_cast<double>(mask[i]) >= 0.5;
      const int q = static_cast<int>(std::floor(255.0 * v + 0.5));
      (is_lesion ? lesion : background)[static_cast<size_t>(q)] += 1;
      if (v >= 0.5) {
        ++pred;
        tp += is_lesion ? 1 : 0;
      }
    }
    int64_t lesion_total = 0;
    int qmin = kLevels, qmax = -1;
    for (int q = 0; q < kLevels; ++q) {
      lesion_total += lesion[static_cast<size_t>(q)];
      if (lesion[static_cast<size_t>(q)] + background[static_cast<size_t>(q)] > 0) {
        qmin = std::min(qmin, q);
        qmax = std::max(qmax, q);
      }
    }
    m_dice_at_half += tp == 0 ? 0.0 : 2.0 * static_cast<double>(tp) / static_cast<double>(pred + lesion_total);

    // Level q is predicted at threshold k when m(q) >= t_k, compared exactly in integers:
    // (q - qmin) 255 >= (255 - k)(qmax - qmin), or q >= 255 - k for a constant map (MATLAB compares
    // the rounded doubles, which can differ from this only at exact ties). Walk q downwards while the
    // threshold falls, so that each level's counts are cumulative.
    const auto predicted = [&](int level, int k) {
      if (qmax == qmin) return level >= 255 - k;
      return static_cast<int64_t>(level - qmin) * 255 >= static_cast<int64_t>(255 - k) * (qmax - qmin);
    };
    int64_t tp_k = 0, pred_k = 0;
    int q = kLevels - 1;
    for (int k = 0; k < kLevels; ++k) {
      for (; q >= 0 && predicted(q, k); --q) {
        tp_k += lesion[static_cast<size_t>(q)];
        pred_k += lesion[static_cast<size_t>(q)] + background[static_cast<size_t>(q)];
      }
      if (tp_k == 0) continue;  // every figure 0 at this level
      const int64_t fp = pred_k - tp_k, tn = n - pred_k - (lesion_total - tp_k);
      Level& l = m_levels[static_cast<size_t>(k)];
      l.dice += 2.0 * static_cast<double>(tp_k) / static_cast<double>(pred_k + lesion_total);
      l.sensitivity += static_cast<double>(tp_k) / static_cast<double>(lesion_total);
      l.specificity += tn + fp == 0 ? 1.0 : static_cast<double>(tn) / static_cast<double>(tn + fp);
      l.precision += static_cast<double>(tp_k) / static_cast<double>(pred_k);
    }
    ++m_slices;
  }

  // n slices of hw pixels each, stored one after the other (a batch (n, 1, H, W) of p and of masks).
  template <class P, class M>
  void add_slices(const P* p, const M* mask, int64_t n, int64_t hw) {
    for (int64_t s = 0; s < n; ++s) add_slice(p + s * hw, mask + s * hw, hw);
  }

  int64_t slices() const { return m_slices; }

  InfNetValues values() const {
    InfNetValues v;
    v.slices = m_slices;
    if (m_slices == 0) {
      const double nan = std::nan("");
      v.dice_at_half = v.mean_dice = v.max_dice = v.mean_sensitivity = v.max_sensitivity = nan;
      v.mean_specificity = v.max_specificity = v.mean_precision = v.max_precision = nan;
      return v;
    }
    const double s = static_cast<double>(m_slices);
    v.dice_at_half = m_dice_at_half / s;
    v.max_dice = v.max_sensitivity = v.max_specificity = v.max_precision = -1;
    for (const Level& l : m_levels) {
      sweep(l.dice / s, v.mean_dice, v.max_dice);
      sweep(l.sensitivity / s, v.mean_sensitivity, v.max_sensitivity);
      sweep(l.specificity / s, v.mean_specificity, v.max_specificity);
      sweep(l.precision / s, v.mean_precision, v.max_precision);
    }
    return v;
  }

private:
  struct Level {
    double dice = 0, sensitivity = 0, specificity = 0, precision = 0;  // sums over slices
  };
  static void sweep(double column, double& mean, double& max) {
    mean += column / kLevels;
    max = std::max(max, column);
  }

  std::array<Level, kLevels> m_levels{};
  double m_dice_at_half = 0;
  int64_t m_slices = 0;
};

}  // namespace srmds
