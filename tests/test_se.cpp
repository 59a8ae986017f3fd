// Squeeze-and-excitation: forward and saved tensors against a naive loop (hidden width taken
// from fc1.weight), strided views, backward against finite differences for x and all four
// parameters, write modes and rejected shapes.
#include <cmath>
#include <vector>

#include "srmds/ops/se.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "support/testing.hpp"

using namespace srmds;
using srmds::test::check_gradient;
using srmds::test::ChannelViews;
using srmds::test::contiguous;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
using srmds::test::require_accumulated;
using srmds::test::require_close;
using srmds::test::weighted_sum;

namespace {

template <class T>
struct SeParams {
  Tensor<T> w1, b1, w2, b2;
};

template <class T>
SeParams<T> random_params(int64_t c, int64_t hd, Rng& rng) {
  return {random_tensor<T>(Shape{hd, c, 1, 1}, rng), random_tensor<T>(Shape{hd}, rng, -0.5, 0.5),
          random_tensor<T>(Shape{c, hd, 1, 1}, rng), random_tensor<T>(Shape{c}, rng, -0.5, 0.5)};
}

// Naive SE in double; also returns s, u, a.
template <class T>
Tensor<double> naive_se(const Tensor<T>& x, const SeParams<T>& p, Tensor<double>& s, Tensor<double>& u,
                        Tensor<double>& a) {
  const Shape& sh = x.shape();
  const int64_t hd = p.w1.shape()[0];
  s = Tensor<double>(Shape{sh.n(), sh.c()});
  u = Tensor<double>(Shape{sh.n(), hd});
  a = Tensor<double>(Shape{sh.n(), sh.c()});
  Tensor<double> y(sh);
  for (int64_t n = 0; n < sh.n(); ++n) {
    for (int64_t c = 0; c < sh.c(); ++c) {
      double acc = 0;
      for (int64_t h = 0; h < sh.h(); ++h)
        for (int64_t w = 0; w < sh.w(); ++w) acc += x.at(n, c, h, w);
      s[n * sh.c() + c] = acc / static_cast<double>(sh.h() * sh.w());
    }
    for (int64_t j = 0; j < hd; ++j) {
      double z = p.b1[j];
      for (int64_t c = 0; c < sh.c(); ++c) z += p.w1[j * sh.c() + c] * s[n * sh.c() + c];
      u[n * hd + j] = std::max(z, 0.0);
    }
    for (int64_t c = 0; c < sh.c(); ++c) {
      double z = p.b2[c];
      for (int64_t j = 0; j < hd; ++j) z += p.w2[c * hd + j] * u[n * hd + j];
      a[n * sh.c() + c] = 1 / (1 + std::exp(-z));
    }
    for (int64_t c = 0; c < sh.c(); ++c)
      for (int64_t h = 0; h < sh.h(); ++h)
        for (int64_t w = 0; w < sh.w(); ++w) y.at(n, c, h, w) = x.at(n, c, h, w) * a[n * sh.c() + c];
  }
  return y;
}

struct Case {
  Shape x;
  int64_t hd;
};
const std::vector<Case> kCases = {{Shape{2, 5, 3, 4}, 4},
                                  {Shape{3, 7, 5, 2}, 3},
                                  {Shape{1, 32, 2, 3}, 2},
                                  {Shape{4, 1, 3, 3}, 4},
                                  {Shape{2, 9, 48, 40}, 4}};  // large enough to run in parallel

}  // namespace

TEMPLATE_TEST_CASE("se forward and saved tensors match a naive loop", "[ops][se]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Case& k : kCases) {
    for (bool views : {false, true}) {
      INFO("x " << k.x << " hidden " << k.hd << (views ? " (strided views)" : ""));
      const Shape& s = k.x;
      auto p = random_params<T>(s.c(), k.hd, rng);
      auto xbig = random_tensor<T>(Shape{s.n(), s.c() + 2, s.h(), s.w()}, rng, -1.0, 2.0);
      auto ybig = random_tensor<T>(Shape{s.n(), s.c() + 3, s.h(), s.w()}, rng);
      Tensor<T> xo = random_tensor<T>(s, rng, -1.0, 2.0), yo(s);
      Tensor<T> x = views ? xbig.channels(2, s.c()) : xo.view();
      Tensor<T> y = views ? ybig.channels(1, s.c()) : yo.view();
      auto saved = se_saved_for<T>(ctx, s, k.hd);
      se_forward(ctx, x, p.w1, p.b1, p.w2, p.b2, y, saved);
      Tensor<double> sr, ur, ar;
      const auto yr = naive_se(contiguous(x), p, sr, ur, ar);
      require_close(contiguous(y), yr, tol, tol, "y");
      require_close(saved.mean, sr, tol, tol, "saved.mean");
      require_close(saved.hidden, ur, tol, tol, "saved.hidden");
      require_close(saved.scale, ar, tol, tol, "saved.scale");
    }
  }
}

TEST_CASE("se backward matches finite differences for x, fc1 and fc2", "[ops][se][grad]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Case& k : kCases) {
    INFO("x " << k.x << " hidden " << k.hd);
    const Shape& s = k.x;
    auto x = random_tensor<double>(s, rng, -1.0, 2.0);
    auto p = random_params<double>(s.c(), k.hd, rng);
    auto w = random_tensor<double>(s, rng);
    auto loss = [&] {
      Tensor<double> yy(s);
      auto sv = se_saved_for<double>(ctx, s, k.hd);
      se_forward(ctx, x, p.w1, p.b1, p.w2, p.b2, yy, sv);
      return weighted_sum(yy, w);
    };
    Tensor<double> y(s), dx(s), dw1(p.w1.shape()), db1(p.b1.shape()), dw2(p.w2.shape()), db2(p.b2.shape());
    auto saved = se_saved_for<double>(ctx, s, k.hd);
    se_forward(ctx, x, p.w1, p.b1, p.w2, p.b2, y, saved);
    se_backward(ctx, x, w, p.w1, p.b1, p.w2, p.b2, saved, dx, WriteMode::Overwrite, dw1, db1, dw2, db2,
                WriteMode::Overwrite);
    // The loss sums up to ~35k terms, so its rounding (~1e-12) over a 2e-6 step would be ~1e-6 of
    // the derivative: a 1e-5 step keeps that noise at ~1e-7 (truncation error stays ~1e-10).
    const int pts = 48;
    const double eps = 1e-5;
    check_gradient(x, dx, loss, "se dx", rng, pts, eps);
    check_gradient(p.w1, dw1, loss, "se fc1.weight", rng, pts, eps);
    check_gradient(p.b1, db1, loss, "se fc1.bias", rng, pts, eps);
    check_gradient(p.w2, dw2, loss, "se fc2.weight", rng, pts, eps);
    check_gradient(p.b2, db2, loss, "se fc2.bias", rng, pts, eps);

    // Accumulate adds the same gradients.
    Tensor<double> gx(s), g1(p.w1.shape()), gb1(p.b1.shape()), g2(p.w2.shape()), gb2(p.b2.shape());
    for (auto* t : {&gx, &g1, &gb1, &g2, &gb2}) fill(ctx, *t, 0.25);
    se_backward(ctx, x, w, p.w1, p.b1, p.w2, p.b2, saved, gx, WriteMode::Accumulate, g1, gb1, g2, gb2,
                WriteMode::Accumulate);
    require_accumulated({{&gx, &dx}, {&g1, &dw1}, {&gb1, &db1}, {&g2, &dw2}, {&gb2, &db2}}, 0.25);
  }
}

TEMPLATE_TEST_CASE("se backward on strided views matches the contiguous one", "[ops][se][grad]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-13;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{3, 5, 4, 3};
  auto p = random_params<T>(5, 4, rng);
  ChannelViews<T> v(s, rng);
  auto &xv = v.x, &gv = v.g, &dv = v.d;
  auto saved = se_saved_for<T>(ctx, s, 4);
  Tensor<T> y(s);
  se_forward(ctx, xv, p.w1, p.b1, p.w2, p.b2, y, saved);
  Tensor<T> dx(s), dw1(p.w1.shape()), db1(p.b1.shape()), dw2(p.w2.shape()), db2(p.b2.shape());
  se_backward(ctx, contiguous(xv), contiguous(gv), p.w1, p.b1, p.w2, p.b2, saved, dx, WriteMode::Overwrite, dw1, db1,
              dw2, db2, WriteMode::Overwrite);
  Tensor<T> ew1(p.w1.shape()), eb1(p.b1.shape()), ew2(p.w2.shape()), eb2(p.b2.shape());
  se_backward(ctx, xv, gv, p.w1, p.b1, p.w2, p.b2, saved, dv, WriteMode::Overwrite, ew1, eb1, ew2, eb2,
              WriteMode::Overwrite);
  require_close(contiguous(dv), dx, tol, tol, "dx view");
  require_close(ew1, dw1, tol, tol, "dw1 view");
  require_close(ew2, dw2, tol, tol, "dw2 view");
}

TEST_CASE("se rejects inconsistent weights naming the op and the tensor", "[ops][se][errors]") {
  Context<Cpu> ctx;
  const Shape s{2, 8, 4, 4};
  Tensor<float> x(s), y(s), w1(Shape{4, 8, 1, 1}), b1(Shape{4}), w2_bad(Shape{8, 3, 1, 1}), b2(Shape{8});
  auto saved = se_saved_for<float>(ctx, s, 4);
  REQUIRE_THROWS_WITH(se_forward(ctx, x, w1, b1, w2_bad, b2, y, saved),
                      Catch::Contains("se_forward") && Catch::Contains("fc2.weight") &&
                          Catch::Contains("[8, 3, 1, 1]") && Catch::Contains("[8, 4, 1, 1]"));
  Tensor<float> w2(Shape{8, 4, 1, 1}), y_bad(Shape{2, 8, 4, 5});
  REQUIRE_THROWS_WITH(se_forward(ctx, x, w1, b1, w2, b2, y_bad, saved),
                      Catch::Contains("se_forward") && Catch::Contains("[2, 8, 4, 5]"));
}
