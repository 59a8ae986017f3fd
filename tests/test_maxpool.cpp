// 2x2 max pooling: values and argmax against a naive loop (including ties and NaN), backward
// scatter, finite differences, write modes, strided channel views and rejected shapes.
#include <cmath>
#include <limits>
#include <vector>

#include "srmds/ops/maxpool.hpp"
#include "srmds/ops/math/maxpool.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "support/testing.hpp"

using namespace srmds;
using srmds::test::check_gradient;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
using srmds::test::weighted_sum;

namespace {

// Naive pooling: first maximum in row-major window order wins.
template <class T>
void naive_maxpool(const Tensor<T>& x, Tensor<T>& y, Tensor<int32_t>& arg) {
  const Shape& s = x.shape();
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t c = 0; c < s.c(); ++c)
      for (int64_t i = 0; i < s.h() / 2; ++i)
        for (int64_t j = 0; j < s.w() / 2; ++j) {
          T best = x.at(n, c, 2 * i, 2 * j);
          int64_t bi = 2 * i * s.w() + 2 * j;
          for (int64_t dh = 0; dh < 2; ++dh)
            for (int64_t dw = 0; dw < 2; ++dw) {
              const T v = x.at(n, c, 2 * i + dh, 2 * j + dw);
              if (v > best) best = v, bi = (2 * i + dh) * s.w() + 2 * j + dw;
            }
          y.at(n, c, i, j) = best;
          arg.at(n, c, i, j) = static_cast<int32_t>(bi);
        }
}

// Distinct values (spacing 1/numel) in random order, so no window has near-ties.
Tensor<double> distinct_tensor(const Shape& s, Rng& rng) {
  Tensor<double> t(s);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) t[i] = static_cast<double>(i) / static_cast<double>(n) - 0.5;
  for (int64_t i = n - 1; i > 0; --i) std::swap(t[i], t[static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)))]);
  return t;
}

Shape pooled(const Shape& s) { return Shape{s.n(), s.c(), s.h() / 2, s.w() / 2}; }

}  // namespace

TEMPLATE_TEST_CASE("maxpool2 values and argmax match a naive loop", "[ops][maxpool]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (Shape s : {Shape{2, 3, 4, 6}, Shape{1, 1, 2, 2}, Shape{3, 5, 8, 2}, Shape{2, 7, 6, 10}, Shape{2, 9, 48, 40}}) {
    INFO("shape " << s);
    auto x = random_tensor<T>(s, rng);
    // Quantise some values so that ties occur.
    for (int64_t i = 0; i < x.numel(); i += 3) x[i] = std::round(x[i] * 2) / 2;
    Tensor<T> y(pooled(s)), yr(pooled(s));
    Tensor<int32_t> arg(pooled(s)), argr(pooled(s));
    maxpool2_forward(ctx, x, y, arg);
    naive_maxpool(x, yr, argr);
    for (int64_t i = 0; i < y.numel(); ++i) {
      REQUIRE(y[i] == yr[i]);
      REQUIRE(arg[i] == argr[i]);
    }
  }
}

TEST_CASE("maxpool2 ties go to the first maximum and NaN propagates", "[ops][maxpool]") {
  Context<Cpu> ctx;
  Tensor<float> x(Shape{1, 1, 2, 4}), y(Shape{1, 1, 1, 2});
  Tensor<int32_t> arg(Shape{1, 1, 1, 2});
  // Window 0: all equal -> index 0. Window 1: maxima at (0, 3) and (1, 2) -> (0, 3) = 3.
  const float v[8] = {5, 5, 1, 7, 5, 5, 7, 2};
  for (int i = 0; i < 8; ++i) x[i] = v[i];
  maxpool2_forward(ctx, x, y, arg);
  REQUIRE(y[0] == 5.0f);
  REQUIRE(arg[0] == 0);
  REQUIRE(y[1] == 7.0f);
  REQUIRE(arg[1] == 3);
  x[6] = std::numeric_limits<float>::quiet_NaN();
  maxpool2_forward(ctx, x, y, arg);
  REQUIRE(std::isnan(y[1]));
  REQUIRE(arg[1] == 6);
}

// The same rules on rows wide enough for the vectorised kernel (16 outputs at a time): every window
// pattern of ties, NaNs and a single maximum, against maxpool2_window_argmax (shared with CUDA).
TEST_CASE("maxpool2 ties and NaN on wide rows match the shared window rule", "[ops][maxpool]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Shape s{2, 3, 4, 70};  // 35 outputs per row: two vectors and a scalar tail
  Tensor<float> x(s), y(pooled(s));
  Tensor<int32_t> arg(pooled(s));
  const float choices[5] = {1.0f, 2.0f, 2.0f, -3.0f, nan};  // repeated values give ties
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = choices[static_cast<int>(rng.uniform(0.0, 5.0)) % 5];
  maxpool2_forward(ctx, x, y, arg);
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t c = 0; c < s.c(); ++c) {
      const float* plane = x.sample(n) + c * s.h() * s.w();
      for (int oh = 0; oh < 2; ++oh)
        for (int ow = 0; ow < 35; ++ow) {
          float v = 0;
          const int32_t a = maxpool2_window_argmax(plane, static_cast<int>(s.w()), oh, ow, &v);
          const int64_t o = (c * 2 + oh) * 35 + ow;
          INFO("n " << n << " c " << c << " output " << oh << ", " << ow);
          REQUIRE(arg.sample(n)[o] == a);
          REQUIRE((std::isnan(v) ? std::isnan(y.sample(n)[o]) : y.sample(n)[o] == v));
        }
    }
}

TEMPLATE_TEST_CASE("maxpool2 reads and writes strided channel views", "[ops][maxpool]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{3, 5, 6, 4};
  // The input is channels [2, 7) of a concat buffer; the output a view of another buffer.
  auto big = random_tensor<T>(Shape{3, 9, 6, 4}, rng);
  auto ybig = random_tensor<T>(Shape{3, 6, 3, 2}, rng);
  const auto xv = big.channels(2, 5);
  auto yv = ybig.channels(1, 5);
  Tensor<int32_t> arg(pooled(s)), argr(pooled(s));
  Tensor<T> xc(s), yr(pooled(s));
  copy(ctx, xv, xc);
  maxpool2_forward(ctx, xv, yv, arg);
  naive_maxpool(xc, yr, argr);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 5; ++c)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 2; ++j) {
          REQUIRE(yv.at(n, c, i, j) == yr.at(n, c, i, j));
          REQUIRE(arg.at(n, c, i, j) == argr.at(n, c, i, j));
        }

  // Backward into a view: the scatter lands on the argmax positions, other channels untouched.
  auto dy = random_tensor<T>(pooled(s), rng);
  auto dxbig = random_tensor<T>(Shape{3, 8, 6, 4}, rng);
  Tensor<T> before(dxbig.shape());
  copy(ctx, dxbig, before);
  auto dxv = dxbig.channels(3, 5);
  maxpool2_backward(ctx, dy, arg, dxv, WriteMode::Overwrite);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 8; ++c)
      for (int64_t h = 0; h < 6; ++h)
        for (int64_t w = 0; w < 4; ++w) {
          if (c < 3) {
            REQUIRE(dxbig.at(n, c, h, w) == before.at(n, c, h, w));
            continue;
          }
          const int64_t k = c - 3;
          const T expected = arg.at(n, k, h / 2, w / 2) == h * 4 + w ? dy.at(n, k, h / 2, w / 2) : T(0);
          REQUIRE(dxbig.at(n, c, h, w) == expected);
        }
}

TEST_CASE("maxpool2 backward matches finite differences and accumulates", "[ops][maxpool][grad]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (Shape s : {Shape{2, 3, 4, 6}, Shape{3, 1, 6, 2}}) {
    INFO("shape " << s);
    auto x = distinct_tensor(s, rng);
    auto w = random_tensor<double>(pooled(s), rng);
    Tensor<double> y(pooled(s)), dx(s);
    Tensor<int32_t> arg(pooled(s));
    maxpool2_forward(ctx, x, y, arg);
    maxpool2_backward(ctx, w, arg, dx, WriteMode::Overwrite);
    // Each window contributes its weight exactly once.
    double total = 0, wsum = 0;
    for (int64_t i = 0; i < dx.numel(); ++i) total += dx[i];
    for (int64_t i = 0; i < w.numel(); ++i) wsum += w[i];
    REQUIRE(total == Approx(wsum).epsilon(1e-12));
    check_gradient(
        x, dx,
        [&] {
          Tensor<double> yy(pooled(s));
          Tensor<int32_t> aa(pooled(s));
          maxpool2_forward(ctx, x, yy, aa);
          return weighted_sum(yy, w);
        },
        "maxpool dx", rng, 200, 1e-6, 1e-6, 1e-8);

    auto base = random_tensor<double>(s, rng);
    Tensor<double> acc(s);
    copy(ctx, base, acc);
    maxpool2_backward(ctx, w, arg, acc, WriteMode::Accumulate);
    for (int64_t i = 0; i < acc.numel(); ++i) REQUIRE(acc[i] == base[i] + dx[i]);
  }
}

TEST_CASE("maxpool2 rejects odd sizes and wrong outputs", "[ops][maxpool][errors]") {
  Context<Cpu> ctx;
  Tensor<float> x(Shape{1, 2, 5, 4}), y(Shape{1, 2, 2, 2});
  Tensor<int32_t> arg(Shape{1, 2, 2, 2});
  REQUIRE_THROWS_WITH(maxpool2_forward(ctx, x, y, arg),
                      Catch::Contains("maxpool2_forward") && Catch::Contains("[1, 2, 5, 4]") && Catch::Contains("odd"));
  Tensor<float> x2(Shape{1, 2, 4, 6}), y2(Shape{1, 2, 2, 2});
  REQUIRE_THROWS_WITH(maxpool2_forward(ctx, x2, y2, arg), Catch::Contains("maxpool2_forward") &&
                                                              Catch::Contains("[1, 2, 2, 2]") &&
                                                              Catch::Contains("[1, 2, 2, 3]"));
  Tensor<float> dx(Shape{1, 2, 4, 4}), dy(Shape{1, 2, 2, 2});
  Tensor<int32_t> arg_bad(Shape{1, 1, 2, 2});
  REQUIRE_THROWS_WITH(maxpool2_backward(ctx, dy, arg_bad, dx, WriteMode::Overwrite),
                      Catch::Contains("maxpool2_backward") && Catch::Contains("argmax"));
}
