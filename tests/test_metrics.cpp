// Confusion counts and segmentation metrics (SPEC §4): hand-computed counts, random images against a
// naive loop (N > 1, non-square, strided views), the 0/0 conventions, micro vs per-image means,
// the table, and bad input.
#include "support/testing.hpp"

#include <cmath>

#include "srmds/metrics/accumulator.hpp"
#include "srmds/metrics/confusion_counts.hpp"
#include "srmds/metrics/table.hpp"

using namespace srmds;

namespace Catch {
template <>
struct StringMaker<Confusion> {
  static std::string convert(const Confusion& c) {
    return "{TP " + std::to_string(c.tp) + ", FP " + std::to_string(c.fp) + ", TN " + std::to_string(c.tn) +
           ", FN " + std::to_string(c.fn) + "}";
  }
};
}  // namespace Catch
using srmds::test::fresh_seed;
using srmds::test::random_tensor;

TEST_CASE("confusion_counts on a hand-made image", "[metrics]") {
  Context<Cpu> ctx;
  // Image 0 (2 x 4): z >= 0 is the prediction (0 counts as positive), mask >= 0.5 the lesion.
  //   z    :  1.0  0.0 -0.1 -3.0 |  2.0 -1.0  0.3 -0.0
  //   mask :  1    0.5  1    0   |  0    0    0.4  0.49
  //   cell :  TP   TP   FN   TN  |  FP   TN   FP   FP      -> TP 2, FP 3, TN 2, FN 1
  // (-0.0 >= 0: a logit of exactly zero, either sign, is p = 0.5, a prediction.)
  // Image 1: everything background, nothing predicted       -> TN 8
  Tensor<float> z(Shape{2, 1, 2, 4}), m(Shape{2, 1, 2, 4});
  const float zv[8] = {1.0f, 0.0f, -0.1f, -3.0f, 2.0f, -1.0f, 0.3f, -0.0f};
  const float mv[8] = {1, 0.5f, 1, 0, 0, 0, 0.4f, 0.49f};
  for (int i = 0; i < 8; ++i) {
    z[i] = zv[i];
    m[i] = mv[i];
    z[8 + i] = -1.0f - static_cast<float>(i);
  }
  Tensor<int64_t> counts(Shape{2, 4});
  confusion_counts(ctx, z, m, counts);
  REQUIRE(counts_row(counts, 0) == Confusion{2, 3, 2, 1});
  REQUIRE(counts_row(counts, 1) == Confusion{0, 0, 8, 0});

  MetricsAccumulator acc;
  acc.add(counts);
  REQUIRE(acc.images() == 2);
  REQUIRE(acc.pooled() == Confusion{2, 3, 10, 1});
  const MetricValues mi = acc.micro();
  REQUIRE(mi.sensitivity == Approx(2.0 / 3));
  REQUIRE(mi.specificity == Approx(10.0 / 13));
  REQUIRE(mi.precision == Approx(0.4));
  REQUIRE(mi.dice == Approx(0.5));
  // Per image: image 1 has no lesion and no prediction: sens 1, spec 1, prec 1, Dice 1.
  const MetricValues pi = acc.per_image_mean();
  REQUIRE(pi.sensitivity == Approx((2.0 / 3 + 1) / 2));
  REQUIRE(pi.specificity == Approx((0.4 + 1) / 2));
  REQUIRE(pi.precision == Approx((0.4 + 1) / 2));
  REQUIRE(pi.dice == Approx((0.5 + 1) / 2));

  const std::string table = format_metrics_table(acc);
  INFO(table);
  REQUIRE_THAT(table, Catch::Contains("sensitivity") && Catch::Contains("66.67 %") && Catch::Contains("83.33 %") &&
                          Catch::Contains("dice") && Catch::Contains("50.00 %") && Catch::Contains("75.00 %") &&
                          Catch::Contains("images 2, pixels 16: TP 2, FP 3, TN 10, FN 1"));
}

TEST_CASE("metrics follow the documented 0/0 conventions", "[metrics]") {
  // No lesion, no prediction: everything 1.
  const Confusion empty{0, 0, 10, 0};
  REQUIRE(empty.sensitivity() == 1.0);
  REQUIRE(empty.specificity() == 1.0);
  REQUIRE(empty.precision() == 1.0);
  REQUIRE(empty.dice() == 1.0);
  // A lesion, nothing predicted: sensitivity 0, precision 0 (missed), Dice 0.
  const Confusion missed{0, 0, 6, 4};
  REQUIRE(missed.sensitivity() == 0.0);
  REQUIRE(missed.specificity() == 1.0);
  REQUIRE(missed.precision() == 0.0);
  REQUIRE(missed.dice() == 0.0);
  // No lesion, false alarms: sensitivity 1 (nothing to find), precision 0, Dice 0.
  const Confusion false_alarm{0, 3, 7, 0};
  REQUIRE(false_alarm.sensitivity() == 1.0);
  REQUIRE(false_alarm.specificity() == Approx(0.7));
  REQUIRE(false_alarm.precision() == 0.0);
  REQUIRE(false_alarm.dice() == 0.0);
  // All lesion, all found: specificity 1 (no background).
  const Confusion all{5, 0, 0, 0};
  REQUIRE(all.specificity() == 1.0);
  REQUIRE(all.dice() == 1.0);
  // Nothing at all.
  REQUIRE(Confusion{}.dice() == 1.0);
  REQUIRE(Confusion{}.precision() == 1.0);
  // An accumulator without images: micro from zero counts, per-image NaN, table prints "-".
  MetricsAccumulator acc;
  REQUIRE(std::isnan(acc.per_image_mean().dice));
  REQUIRE_THAT(format_metrics_table(acc), Catch::Contains("-") && Catch::Contains("images 0"));
}

TEMPLATE_TEST_CASE("confusion_counts matches a naive loop on random images", "[metrics]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  for (Shape s : {Shape{1, 1, 5, 7}, Shape{3, 1, 16, 12}, Shape{2, 1, 140, 150}, Shape{4, 1, 1, 1}}) {
    INFO("shape " << s);
    // A wider tensor whose channel 1 is the (strided) input, to test views too.
    auto zw = random_tensor<T>(Shape{s.n(), 2, s.h(), s.w()}, rng, -2, 2);
    auto mw = random_tensor<T>(Shape{s.n(), 3, s.h(), s.w()}, rng, 0, 1);
    for (int64_t i = 0; i < zw.numel(); i += 7) zw[i] = T(0);  // exact zeros are predictions
    for (int64_t i = 0; i < mw.numel(); i += 5) mw[i] = T(0.5);  // exactly 0.5 is lesion
    for (bool strided : {false, true}) {
      Tensor<T> zc(s), mc(s);
      const Tensor<T> zv = zw.channels(1, 1), mv = mw.channels(2, 1);
      for (int64_t n = 0; n < s.n(); ++n)
        for (int64_t i = 0; i < s.h(); ++i)
          for (int64_t j = 0; j < s.w(); ++j) {
            zc.at(n, 0, i, j) = zv.at(n, 0, i, j);
            mc.at(n, 0, i, j) = mv.at(n, 0, i, j);
          }
      Tensor<int64_t> counts(Shape{s.n(), 4});
      if (strided)
        confusion_counts(ctx, zv, mv, counts);
      else
        confusion_counts(ctx, zc, mc, counts);
      MetricsAccumulator acc;
      acc.add(counts);
      Confusion pooled;
      for (int64_t n = 0; n < s.n(); ++n) {
        Confusion c;
        for (int64_t i = 0; i < s.h(); ++i)
          for (int64_t j = 0; j < s.w(); ++j) {
            const bool pred = zc.at(n, 0, i, j) >= 0, les = mc.at(n, 0, i, j) >= 0.5;
            (pred && les ? c.tp : pred ? c.fp : les ? c.fn : c.tn) += 1;
          }
        REQUIRE(counts_row(counts, n) == c);
        REQUIRE(c.total() == s.h() * s.w());
        pooled += c;
      }
      REQUIRE(acc.pooled() == pooled);
      REQUIRE(acc.micro().dice == Approx(2.0 * pooled.tp / (2.0 * pooled.tp + pooled.fp + pooled.fn)));
    }
  }
}

TEST_CASE("confusion_counts and the accumulator reject bad input", "[metrics][errors]") {
  Context<Cpu> ctx;
  Tensor<float> z(Shape{2, 1, 4, 4}), m(Shape{2, 1, 4, 5}), z2(Shape{2, 2, 4, 4});
  Tensor<int64_t> counts(Shape{2, 4}), bad_counts(Shape{3, 4});
  REQUIRE_THROWS_WITH(confusion_counts(ctx, z, m, counts), Catch::Contains("confusion_counts") &&
                                                               Catch::Contains("[2, 1, 4, 4]") &&
                                                               Catch::Contains("[2, 1, 4, 5]"));
  REQUIRE_THROWS_WITH(confusion_counts(ctx, z, z, bad_counts),
                      Catch::Contains("confusion_counts") && Catch::Contains("counts") && Catch::Contains("[3, 4]"));
  REQUIRE_THROWS_WITH(confusion_counts(ctx, z2, z2, counts), Catch::Contains("one channel"));
  MetricsAccumulator acc;
  REQUIRE_THROWS_WITH(acc.add(Tensor<int64_t>(Shape{2, 3})), Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(acc.add(Confusion{1, -1, 0, 0}), Catch::Contains("negative"));
  REQUIRE_THROWS_WITH(counts_row(counts, 2), Catch::Contains("row 2"));
}
