// Deep-supervision targets: average, nearest and max reduction for factors 1, 2, 4, 8 against a
// naive loop, a hand-computed example, strided views and rejected shapes.
#include <algorithm>
#include <vector>

#include "srmds/ops/downsample_target.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "support/testing.hpp"

using namespace srmds;
using srmds::test::fresh_seed;

namespace {

template <class T>
Tensor<double> naive_target(const Tensor<T>& m, int f, TargetMode mode) {
  const Shape& s = m.shape();
  Tensor<double> out(Shape{s.n(), s.c(), s.h() / f, s.w() / f});
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t c = 0; c < s.c(); ++c)
      for (int64_t i = 0; i < s.h() / f; ++i)
        for (int64_t j = 0; j < s.w() / f; ++j) {
          double sum = 0, mx = -1e300;
          for (int64_t a = 0; a < f; ++a)
            for (int64_t b = 0; b < f; ++b) {
              const double v = m.at(n, c, i * f + a, j * f + b);
              sum += v;
              mx = std::max(mx, v);
            }
          out.at(n, c, i, j) = mode == TargetMode::Average ? sum / (f * f)
                               : mode == TargetMode::Max   ? mx
                                                           : static_cast<double>(m.at(n, c, i * f, j * f));
        }
  return out;
}

// A binary mask with blobs, plus soft values, so that all three modes differ.
template <class T>
Tensor<T> random_mask(const Shape& s, Rng& rng) {
  Tensor<T> m(s);
  for (int64_t i = 0; i < m.numel(); ++i) {
    const double u = rng.uniform();
    m[i] = u < 0.4 ? T(1) : u < 0.9 ? T(0) : static_cast<T>(rng.uniform());
  }
  return m;
}

}  // namespace

TEMPLATE_TEST_CASE("downsample_target matches a naive loop for every mode and factor", "[ops][targets]", float,
                   double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (Shape s : {Shape{3, 1, 16, 24}, Shape{2, 1, 8, 40}, Shape{1, 3, 32, 8}, Shape{2, 3, 96, 64}}) {
    auto m = random_mask<T>(s, rng);
    for (int f : {1, 2, 4, 8}) {
      for (TargetMode mode : {TargetMode::Average, TargetMode::Nearest, TargetMode::Max}) {
        INFO("mask " << s << " factor " << f << " mode " << static_cast<int>(mode));
        Tensor<T> out(Shape{s.n(), s.c(), s.h() / f, s.w() / f});
        downsample_target(ctx, m, out, f, mode);
        const auto ref = naive_target(m, f, mode);
        for (int64_t i = 0; i < out.numel(); ++i)
          REQUIRE(static_cast<double>(out[i]) == Approx(ref[i]).epsilon(1e-6).margin(1e-7));
        if (f == 1)
          for (int64_t i = 0; i < out.numel(); ++i) REQUIRE(out[i] == m[i]);
      }
    }
  }
}

TEST_CASE("downsample_target of a known 4x4 mask", "[ops][targets]") {
  Context<Cpu> ctx;
  // Top-left block {0,1,1,1} -> average 0.75, nearest 0, max 1; other blocks all 0 or all 1.
  const float v[16] = {0, 1, 0, 0,  //
                       1, 1, 0, 0,  //
                       1, 1, 0, 1,  //
                       1, 1, 0, 0};
  Tensor<float> m(Shape{1, 1, 4, 4}), out(Shape{1, 1, 2, 2});
  for (int i = 0; i < 16; ++i) m[i] = v[i];
  downsample_target(ctx, m, out, 2, TargetMode::Average);
  REQUIRE(out[0] == 0.75f);
  REQUIRE(out[1] == 0.0f);
  REQUIRE(out[2] == 1.0f);
  REQUIRE(out[3] == 0.25f);
  downsample_target(ctx, m, out, 2, TargetMode::Nearest);
  REQUIRE((out[0] == 0.0f && out[1] == 0.0f && out[2] == 1.0f && out[3] == 0.0f));
  downsample_target(ctx, m, out, 2, TargetMode::Max);
  REQUIRE((out[0] == 1.0f && out[1] == 0.0f && out[2] == 1.0f && out[3] == 1.0f));
  Tensor<float> one(Shape{1, 1, 1, 1});
  downsample_target(ctx, m, one, 4, TargetMode::Average);
  REQUIRE(one[0] == 8.0f / 16.0f);
}

TEST_CASE("downsample_target reads and writes strided channel views", "[ops][targets]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  auto big = random_mask<float>(Shape{3, 4, 16, 8}, rng);
  auto mv = big.channels(2, 1);
  Tensor<float> obig(Shape{3, 2, 4, 2});
  auto ov = obig.channels(1, 1);
  Tensor<float> mc(mv.shape());
  copy(ctx, mv, mc);
  downsample_target(ctx, mv, ov, 4, TargetMode::Average);
  const auto ref = naive_target(mc, 4, TargetMode::Average);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        REQUIRE(ov.at(n, 0, i, j) == Approx(ref.at(n, 0, i, j)).epsilon(1e-6));
        REQUIRE(obig.at(n, 0, i, j) == 0.0f);
      }
}

TEST_CASE("downsample_target rejects indivisible sizes and wrong outputs", "[ops][targets][errors]") {
  Context<Cpu> ctx;
  Tensor<float> m(Shape{2, 1, 12, 8}), out(Shape{2, 1, 1, 1});
  REQUIRE_THROWS_WITH(downsample_target(ctx, m, out, 8, TargetMode::Average),
                      Catch::Contains("downsample_target") && Catch::Contains("[2, 1, 12, 8]"));
  Tensor<float> out2(Shape{2, 1, 6, 3});
  REQUIRE_THROWS_WITH(downsample_target(ctx, m, out2, 2, TargetMode::Max), Catch::Contains("downsample_target") &&
                                                                               Catch::Contains("[2, 1, 6, 3]") &&
                                                                               Catch::Contains("[2, 1, 6, 4]"));
  REQUIRE_THROWS_AS(downsample_target(ctx, m, out2, 0, TargetMode::Max), Error);
}
