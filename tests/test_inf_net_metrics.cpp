// Inf-Net's metrics (metrics/inf_net.hpp, SPEC §4) against a literal transcription of
// EvaluationTool/main.m and Fmeasure_calu.m (pixel loops, every threshold, double arithmetic) on a
// hand-made fixture and on random slices; and the eval table.
#include "support/testing.hpp"

#include <cmath>
#include <vector>

#include "srmds/core/rng.hpp"
#include "srmds/metrics/inf_net.hpp"
#include "srmds/metrics/table.hpp"

using namespace srmds;
using srmds::test::fresh_seed;

namespace {

struct Slice {
  std::vector<float> p, mask;
};

// main.m, one figure at a time: the map quantised as a PNG stores it, im2double, mapminmax to
// [0, 1] (a constant map unchanged), then for t = 1:-1/255:0 Fmeasure_calu's counts with
// sMap >= t. Ties (m equal to t up to rounding) count as predicted, as exact arithmetic has them.
InfNetValues naive_inf_net(const std::vector<Slice>& slices) {
  const int levels = 256;
  std::vector<double> dice(levels, 0), sen(levels, 0), spe(levels, 0), pre(levels, 0);
  double dice_half = 0;
  for (const Slice& s : slices) {
    const size_t n = s.p.size();
    std::vector<double> m(n);
    double lo = 1e300, hi = -1e300;
    for (size_t i = 0; i < n; ++i) {
      m[i] = std::floor(255.0 * s.p[i] + 0.5) / 255.0;
      lo = std::min(lo, m[i]);
      hi = std::max(hi, m[i]);
    }
    if (hi > lo)
      for (double& v : m) v = (v - lo) / (hi - lo);
    double tp = 0, pred = 0, gt = 0;
    for (size_t i = 0; i < n; ++i) {
      const bool g = s.mask[i] >= 0.5f, q = s.p[i] >= 0.5f;
      gt += g;
      pred += q;
      tp += g && q;
    }
    dice_half += tp == 0 ? 0 : 2 * tp / (gt + pred);
    for (int k = 0; k < levels; ++k) {
      const double t = 1.0 - k / 255.0;
      double TP = 0, FP = 0, TN = 0, FN = 0;
      for (size_t i = 0; i < n; ++i) {
        const bool q = m[i] >= t - 1e-12, g = s.mask[i] >= 0.5f;
        TP += q && g;
        FP += q && !g;
        TN += !q && !g;
        FN += !q && g;
      }
      if (TP == 0) continue;
      dice[k] += 2 * TP / (2 * TP + FP + FN);
      sen[k] += TP / (TP + FN);
      spe[k] += TN + FP == 0 ? 1 : TN / (TN + FP);  // no background: ours is 1, MATLAB's NaN
      pre[k] += TP / (TP + FP);
    }
  }
  InfNetValues v;
  const double ns = static_cast<double>(slices.size());
  v.slices = static_cast<int64_t>(slices.size());
  v.dice_at_half = dice_half / ns;
  v.max_dice = v.max_sensitivity = v.max_specificity = v.max_precision = -1;
  for (int k = 0; k < levels; ++k) {
    v.mean_dice += dice[k] / ns / levels;
    v.mean_sensitivity += sen[k] / ns / levels;
    v.mean_specificity += spe[k] / ns / levels;
    v.mean_precision += pre[k] / ns / levels;
    v.max_dice = std::max(v.max_dice, dice[k] / ns);
    v.max_sensitivity = std::max(v.max_sensitivity, sen[k] / ns);
    v.max_specificity = std::max(v.max_specificity, spe[k] / ns);
    v.max_precision = std::max(v.max_precision, pre[k] / ns);
  }
  return v;
}

InfNetValues ours(const std::vector<Slice>& slices) {
  InfNetMetrics m;
  for (const Slice& s : slices) m.add_slice(s.p.data(), s.mask.data(), static_cast<int64_t>(s.p.size()));
  return m.values();
}

void require_same(const InfNetValues& a, const InfNetValues& b) {
  const double tol = 1e-12;  // both sum the same per-slice ratios; only the order of additions differs
  CHECK(a.slices == b.slices);
  CHECK(std::abs(a.dice_at_half - b.dice_at_half) <= tol);
  CHECK(std::abs(a.mean_dice - b.mean_dice) <= tol);
  CHECK(std::abs(a.max_dice - b.max_dice) <= tol);
  CHECK(std::abs(a.mean_sensitivity - b.mean_sensitivity) <= tol);
  CHECK(std::abs(a.max_sensitivity - b.max_sensitivity) <= tol);
  CHECK(std::abs(a.mean_specificity - b.mean_specificity) <= tol);
  CHECK(std::abs(a.max_specificity - b.max_specificity) <= tol);
  CHECK(std::abs(a.mean_precision - b.mean_precision) <= tol);
  CHECK(std::abs(a.max_precision - b.max_precision) <= tol);
}

}  // namespace

TEST_CASE("Inf-Net metrics of a hand-made fixture", "[metrics][inf_net]") {
  // Slice 0: four pixels, p = 1, 0.6, 0.2, 0; lesion at the first two and the third.
  //   quantised 255, 153, 51, 0 -> m = 1, 0.6, 0.2, 0 (already full range).
  //   Dice@0.5: predicted {0, 1}, TP 2, |pred| 2, |lesion| 3 -> 0.8.
  //   t_k = (255 - k) / 255 > 0.6 (k = 0..101): predicted {0}: TP 1 -> Dice 2/4, Sen 1/3, Spe 1, Pre 1.
  //   t in (0.2, 0.6] (k = 102..203): {0, 1}: Dice 0.8, Sen 2/3, Spe 1, Pre 1.
  //   t in (0, 0.2] (k = 204..254): {0, 1, 2}: Dice 1, Sen 1, Spe 1, Pre 1.
  //   t = 0 (k = 255): all: TP 3, FP 1 -> Dice 6/7, Sen 1, Spe 0, Pre 3/4.
  // Slice 1: no lesion at all: TP is 0 at every level, so every figure is 0 (Fmeasure_calu).
  std::vector<Slice> s(2);
  s[0].p = {1.0f, 0.6f, 0.2f, 0.0f};
  s[0].mask = {1, 1, 1, 0};
  s[1].p = {0.9f, 0.1f, 0.0f, 0.3f};
  s[1].mask = {0, 0, 0, 0};
  const InfNetValues v = ours(s);
  const double slice0_dice = (102 * 0.5 + 102 * 0.8 + 51 * 1.0 + 6.0 / 7) / 256;
  CHECK(v.slices == 2);
  CHECK(v.dice_at_half == Approx(0.8 / 2).epsilon(1e-14));
  CHECK(v.mean_dice == Approx(slice0_dice / 2).epsilon(1e-14));
  CHECK(v.max_dice == Approx(0.5).epsilon(1e-14));  // levels k = 204..254: (1 + 0) / 2
  CHECK(v.mean_specificity == Approx((255.0 / 256) / 2).epsilon(1e-14));
  CHECK(v.mean_precision == Approx((255 + 0.75) / 256 / 2).epsilon(1e-14));
  require_same(v, naive_inf_net(s));
}

TEST_CASE("Inf-Net metrics of random slices against main.m's loops", "[metrics][inf_net]") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<Slice> slices(1 + rng.below(4));
    for (Slice& s : slices) {
      const int n = 1 + static_cast<int>(rng.below(300));
      const int kind = static_cast<int>(rng.below(4));  // full range, narrow range, constant, no lesion
      const float lo = kind == 1 ? 0.3f : 0.0f, hi = kind == 1 ? 0.45f : 1.0f;
      const float constant = static_cast<float>(rng.uniform());
      for (int i = 0; i < n; ++i) {
        s.p.push_back(kind == 2 ? constant : lo + (hi - lo) * static_cast<float>(rng.uniform()));
        s.mask.push_back(kind == 3 ? 0.0f : (rng.uniform() < 0.3 ? 1.0f : 0.0f));
      }
    }
    INFO("trial " << trial);
    require_same(ours(slices), naive_inf_net(slices));
  }
}

TEST_CASE("Inf-Net metrics: bad input and the table", "[metrics][inf_net]") {
  InfNetMetrics m;
  CHECK(std::isnan(m.values().mean_dice));
  const float p[2] = {0.5f, 1.5f}, mask[2] = {1, 0};
  CHECK_THROWS_WITH(m.add_slice(p, mask, 2), Catch::Contains("not in [0, 1]"));
  CHECK_THROWS_WITH(m.add_slice(p, mask, 0), Catch::Contains("needs pixels"));
  m.add_slice(p, mask, 1);
  const std::string table = format_inf_net_table(m.values());
  CHECK_THAT(table, Catch::Contains("over 1 slices"));
  CHECK_THAT(table, Catch::Contains("Dice@0.5 1.0000"));
}
