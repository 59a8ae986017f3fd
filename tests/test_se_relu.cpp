// cpu::se_relu_forward (SE then ReLU in one pass, in place or not) against a naive double loop and
// against relu_forward(se_forward(x)); strided channel views; SeLayer::forward_relu; bad shapes;
// the checked op entry (ops/se.hpp).
#include "support/testing.hpp"

#include <cmath>
#include <vector>

#include "srmds/blocks/se_layer.hpp"
#include "srmds/cpu/se_relu.hpp"
#include "srmds/ops/relu.hpp"
#include "srmds/ops/se.hpp"

using namespace srmds;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;

namespace {

// y = max(x a, 0) with a from the SE formula, everything in double.
template <class T>
Tensor<double, Cpu> naive_se_relu(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,
                                  const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2, std::vector<double>& scale) {
  const Shape& s = x.shape();
  const int64_t hd = w1.shape()[0];
  Tensor<double, Cpu> y(s);
  scale.assign(static_cast<size_t>(s.n() * s.c()), 0);
  for (int64_t n = 0; n < s.n(); ++n) {
    std::vector<double> m(static_cast<size_t>(s.c())), u(static_cast<size_t>(hd));
    for (int64_t c = 0; c < s.c(); ++c) {
      double acc = 0;
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w) acc += x.at(n, c, h, w);
      m[static_cast<size_t>(c)] = acc / static_cast<double>(s.h() * s.w());
    }
    for (int64_t j = 0; j < hd; ++j) {
      double z = b1[j];
      for (int64_t c = 0; c < s.c(); ++c) z += double(w1[j * s.c() + c]) * m[static_cast<size_t>(c)];
      u[static_cast<size_t>(j)] = std::max(z, 0.0);
    }
    for (int64_t c = 0; c < s.c(); ++c) {
      double z = b2[c];
      for (int64_t j = 0; j < hd; ++j) z += double(w2[c * hd + j]) * u[static_cast<size_t>(j)];
      const double a = 1 / (1 + std::exp(-z));
      scale[static_cast<size_t>(n * s.c() + c)] = a;
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w) y.at(n, c, h, w) = std::max(double(x.at(n, c, h, w)) * a, 0.0);
    }
  }
  return y;
}

}  // namespace

TEMPLATE_TEST_CASE("se_relu_forward matches a naive loop and relu(se_forward)", "[cpu][se]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
  for (Shape s : {Shape{1, 5, 3, 7}, Shape{3, 7, 6, 4}, Shape{2, 33, 64, 40}}) {
    const int64_t hd = std::max<int64_t>(s.c() / 16, 4);
    auto x = random_tensor<T>(s, rng, -1, 1.5);
    auto w1 = random_tensor<T>(Shape{hd, s.c(), 1, 1}, rng), b1 = random_tensor<T>(Shape{hd}, rng);
    auto w2 = random_tensor<T>(Shape{s.c(), hd, 1, 1}, rng), b2 = random_tensor<T>(Shape{s.c()}, rng);
    std::vector<double> scale_ref;
    const auto ref = naive_se_relu(x, w1, b1, w2, b2, scale_ref);
    SeSaved<T, Cpu> saved = se_saved_for<T, Cpu>(ctx, s, hd), saved2 = se_saved_for<T, Cpu>(ctx, s, hd);

    Tensor<T> y(s);
    cpu::se_relu_forward(x, w1, b1, w2, b2, y, saved.mean, saved.hidden, saved.scale);
    test::require_close(y, ref, tol, tol, "out of place");
    for (int64_t i = 0; i < saved.scale.numel(); ++i)
      REQUIRE(double(saved.scale[i]) == Approx(scale_ref[static_cast<size_t>(i)]).epsilon(tol));

    // The two-pass ops give the same values (the same float product and max).
    Tensor<T> y2(s);
    se_forward(ctx, x, w1, b1, w2, b2, y2, saved2);
    relu_forward(ctx, y2, y2);
    test::require_close(y, y2, tol, 0, "vs relu(se_forward)");
    test::require_close(saved.hidden, saved2.hidden, tol, tol, "hidden");
    test::require_close(saved.mean, saved2.mean, tol, tol, "mean");

    // In place.
    Tensor<T> z(s);
    for (int64_t i = 0; i < x.numel(); ++i) z[i] = x[i];
    cpu::se_relu_forward(z, w1, b1, w2, b2, z, saved.mean, saved.hidden, saved.scale);
    for (int64_t i = 0; i < z.numel(); ++i) REQUIRE(z[i] == y[i]);
  }
}

TEST_CASE("se_relu_forward on strided channel views, in place", "[cpu][se]") {
  Rng rng(fresh_seed());
  Context<Cpu> ctx;
  const Shape whole_shape{2, 9, 5, 6}, s{2, 4, 5, 6};
  auto whole = random_tensor<float>(whole_shape, rng);
  Tensor<float> original(whole_shape);
  for (int64_t i = 0; i < whole.numel(); ++i) original[i] = whole[i];
  Tensor<float> x(s);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 4; ++c)
      for (int64_t h = 0; h < 5; ++h)
        for (int64_t w = 0; w < 6; ++w) x.at(n, c, h, w) = whole.at(n, c + 3, h, w);
  auto w1 = random_tensor<float>(Shape{4, 4, 1, 1}, rng), b1 = random_tensor<float>(Shape{4}, rng);
  auto w2 = random_tensor<float>(Shape{4, 4, 1, 1}, rng), b2 = random_tensor<float>(Shape{4}, rng);
  std::vector<double> scale_ref;
  const auto ref = naive_se_relu(x, w1, b1, w2, b2, scale_ref);
  SeSaved<float, Cpu> saved = se_saved_for<float, Cpu>(ctx, s, 4);
  Tensor<float> view = whole.channels(3, 4);
  cpu::se_relu_forward(view, w1, b1, w2, b2, view, saved.mean, saved.hidden, saved.scale);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 9; ++c)
      for (int64_t h = 0; h < 5; ++h)
        for (int64_t w = 0; w < 6; ++w) {
          if (c >= 3 && c < 7)
            REQUIRE(whole.at(n, c, h, w) == Approx(ref.at(n, c - 3, h, w)).margin(1e-6));
          else
            REQUIRE(whole.at(n, c, h, w) == original.at(n, c, h, w));  // other channels untouched
        }
}

TEST_CASE("SeLayer::forward_relu equals forward then ReLU", "[blocks][se]") {
  Rng rng(fresh_seed());
  Context<Cpu> ctx;
  SeLayer<float, Cpu> se(ctx, 20, 4, rng);
  const Shape s{3, 20, 7, 5};
  auto x = random_tensor<float>(s, rng);
  Tensor<float> a(s), b(s);
  se.forward(ctx, x, a);
  relu_forward(ctx, a, a);
  se.forward_relu(ctx, x, b);
  test::require_close(b, a, 1e-6, 0, "forward_relu");
  se.forward_relu(ctx, x, x);  // in place
  test::require_close(x, a, 1e-6, 0, "forward_relu in place");
}

TEST_CASE("se_relu_forward rejects mismatched shapes", "[cpu][se]") {
  Context<Cpu> ctx;
  const Shape s{1, 8, 4, 4};
  Tensor<float> x(s), y(Shape{1, 8, 4, 5});
  Tensor<float> w1(Shape{4, 8, 1, 1}), b1(Shape{4}), w2(Shape{8, 4, 1, 1}), b2(Shape{8});
  SeSaved<float, Cpu> saved = se_saved_for<float, Cpu>(ctx, s, 4);
  REQUIRE_THROWS_WITH(cpu::se_relu_forward(x, w1, b1, w2, b2, y, saved.mean, saved.hidden, saved.scale),
                      Catch::Contains("se_relu_forward") && Catch::Contains("[1, 8, 4, 5]"));
  Tensor<float> w2_bad(Shape{8, 3, 1, 1});
  REQUIRE_THROWS_WITH(cpu::se_relu_forward(x, w1, b1, w2_bad, b2, x, saved.mean, saved.hidden, saved.scale),
                      Catch::Contains("fc2.weight"));
}

TEST_CASE("se_relu_forward op: the CPU pass behind a checked entry naming the op", "[ops][se]") {
  Rng rng(fresh_seed());
  Context<Cpu> ctx;
  const Shape s{2, 12, 5, 6};
  auto x = random_tensor<float>(s, rng);
  auto w1 = random_tensor<float>(Shape{4, 12, 1, 1}, rng), b1 = random_tensor<float>(Shape{4}, rng);
  auto w2 = random_tensor<float>(Shape{12, 4, 1, 1}, rng), b2 = random_tensor<float>(Shape{12}, rng);
  SeSaved<float, Cpu> saved = se_saved_for<float, Cpu>(ctx, s, 4), ref = se_saved_for<float, Cpu>(ctx, s, 4);
  Tensor<float> y(s), y_ref(s);
  se_relu_forward(ctx, x, w1, b1, w2, b2, y, saved);
  cpu::se_relu_forward(x, w1, b1, w2, b2, y_ref, ref.mean, ref.hidden, ref.scale);
  test::require_close(y, y_ref, 0, 0, "op vs cpu");
  test::require_close(saved.scale, ref.scale, 0, 0, "saved scale");
  se_relu_forward(ctx, x, w1, b1, w2, b2, x, saved);  // in place
  test::require_close(x, y_ref, 0, 0, "op in place");

  Tensor<float> y_bad(Shape{2, 12, 5, 5});
  REQUIRE_THROWS_WITH(se_relu_forward(ctx, x, w1, b1, w2, b2, y_bad, saved),
                      Catch::Contains("se_relu_forward") && Catch::Contains("[2, 12, 5, 5]"));
  SeSaved<float, Cpu> small = se_saved_for<float, Cpu>(ctx, Shape{1, 12, 5, 6}, 4);
  REQUIRE_THROWS_WITH(se_relu_forward(ctx, x, w1, b1, w2, b2, y, small),
                      Catch::Contains("se_relu_forward") && Catch::Contains("saved.mean"));
}
