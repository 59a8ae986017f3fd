// Spatial group-wise enhance: forward and saved tensors against a naive loop written from SPEC §2
// (several group sizes, the 2-pixel minimum, strided views, in place), backward against finite
// differences in double for x, weight and bias, write modes, and rejected shapes.
#include <cmath>
#include <vector>

#include "srmds/ops/sge.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "support/fd_report.hpp"
#include "support/testing.hpp"

using namespace srmds;
using srmds::test::check_gradient_report;
using srmds::test::ChannelViews;
using srmds::test::contiguous;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
using srmds::test::require_accumulated;
using srmds::test::require_close;
using srmds::test::weighted_sum;

namespace {

// Naive SGE in double (SPEC §2); also returns the group means, normalised energy and std.
template <class T>
Tensor<double> naive_sge(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, Tensor<double>& mean,
                         Tensor<double>& norm, Tensor<double>& stdev) {
  const Shape& s = x.shape();
  const int64_t G = weight.shape()[1], cg = s.c() / G, M = s.h() * s.w();
  mean = Tensor<double>(Shape{s.n(), s.c()});
  norm = Tensor<double>(Shape{s.n(), G, s.h(), s.w()});
  stdev = Tensor<double>(Shape{s.n(), G});
  Tensor<double> y(s);
  for (int64_t n = 0; n < s.n(); ++n) {
    for (int64_t c = 0; c < s.c(); ++c) {
      double acc = 0;
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w) acc += x.at(n, c, h, w);
      mean[n * s.c() + c] = acc / static_cast<double>(M);
    }
    for (int64_t g = 0; g < G; ++g) {
      std::vector<double> e(static_cast<size_t>(M), 0.0);
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w)
          for (int64_t k = 0; k < cg; ++k) {
            const int64_t c = g * cg + k;
            e[static_cast<size_t>(h * s.w() + w)] += x.at(n, c, h, w) * mean[n * s.c() + c];
          }
      double mu = 0;
      for (double v : e) mu += v;
      mu /= static_cast<double>(M);
      double var = 0;
      for (double v : e) var += (v - mu) * (v - mu);
      const double sd = std::sqrt(var / static_cast<double>(M - 1));
      stdev[n * G + g] = sd;
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w) {
          const double t = (e[static_cast<size_t>(h * s.w() + w)] - mu) / (sd + 1e-5);
          norm.at(n, g, h, w) = t;
          const double gate = 1 / (1 + std::exp(-(t * weight[g] + bias[g])));
          for (int64_t k = 0; k < cg; ++k) {
            const int64_t c = g * cg + k;
            y.at(n, c, h, w) = x.at(n, c, h, w) * gate;
          }
        }
    }
  }
  return y;
}

struct Case {
  Shape x;
  int64_t groups;
};
const std::vector<Case> kCases = {{Shape{2, 8, 5, 4}, 8},   {Shape{3, 16, 4, 6}, 8}, {Shape{2, 6, 3, 3}, 6},
                                  {Shape{1, 4, 1, 2}, 4},   {Shape{2, 6, 4, 3}, 2},  {Shape{1, 1, 3, 2}, 1},
                                  {Shape{2, 24, 40, 36}, 8}};  // large enough to run in parallel

template <class T>
void random_gate_params(int64_t g, Rng& rng, Tensor<T>& weight, Tensor<T>& bias) {
  // SPEC's initial values are weight 0, bias 1: random values exercise the normalisation too.
  weight = random_tensor<T>(Shape{1, g, 1, 1}, rng, -2.0, 2.0);
  bias = random_tensor<T>(Shape{1, g, 1, 1}, rng, -1.0, 1.0);
}

}  // namespace

TEMPLATE_TEST_CASE("sge forward and saved tensors match a naive loop", "[ops][sge]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Case& k : kCases) {
    for (bool views : {false, true}) {
      INFO("x " << k.x << " groups " << k.groups << (views ? " (strided views)" : ""));
      const Shape& s = k.x;
      Tensor<T> weight, bias;
      random_gate_params(k.groups, rng, weight, bias);
      auto xbig = random_tensor<T>(Shape{s.n(), s.c() + 2, s.h(), s.w()}, rng, -1.0, 2.0);
      auto ybig = random_tensor<T>(Shape{s.n(), s.c() + 3, s.h(), s.w()}, rng);
      Tensor<T> xo = random_tensor<T>(s, rng, -1.0, 2.0), yo(s);
      Tensor<T> x = views ? xbig.channels(2, s.c()) : xo.view();
      Tensor<T> y = views ? ybig.channels(1, s.c()) : yo.view();
      auto saved = sge_saved_for<T>(ctx, s, k.groups);
      sge_forward(ctx, x, weight, bias, y, saved);
      Tensor<double> mr, nr, sr;
      const auto yr = naive_sge(contiguous(x), weight, bias, mr, nr, sr);
      require_close(contiguous(y), yr, tol, tol, "y");
      require_close(saved.mean, mr, tol, tol, "saved.mean");
      require_close(saved.norm, nr, 10 * tol, 10 * tol, "saved.norm");
      require_close(saved.stdev, sr, tol, tol, "saved.stdev");

      // In place gives the same output.
      Tensor<T> z = contiguous(x);
      auto saved2 = sge_saved_for<T>(ctx, s, k.groups);
      sge_forward(ctx, z, weight, bias, z, saved2);
      require_close(z, contiguous(y), 0.0, 0.0, "y in place");
    }
  }
}

TEST_CASE("sge with the initial weight 0 and bias 1 scales every channel by sigmoid(1)", "[ops][sge]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{2, 16, 5, 3};
  auto x = random_tensor<double>(s, rng);
  Tensor<double> w(Shape{1, 8, 1, 1}), b(Shape{1, 8, 1, 1}), y(s);
  fill(ctx, b, 1.0);
  auto saved = sge_saved_for<double>(ctx, s, 8);
  sge_forward(ctx, x, w, b, y, saved);
  for (int64_t i = 0; i < x.numel(); ++i) REQUIRE(y[i] == Approx(x[i] / (1 + std::exp(-1.0))).epsilon(1e-14));
}

TEST_CASE("sge backward matches finite differences for x, weight and bias", "[ops][sge][grad]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Case& k : kCases) {
    INFO("x " << k.x << " groups " << k.groups);
    const Shape& s = k.x;
    auto x = random_tensor<double>(s, rng, -1.0, 2.0);
    Tensor<double> weight, bias;
    random_gate_params(k.groups, rng, weight, bias);
    auto w = random_tensor<double>(s, rng);
    auto loss = [&] {
      Tensor<double> yy(s);
      auto sv = sge_saved_for<double>(ctx, s, k.groups);
      sge_forward(ctx, x, weight, bias, yy, sv);
      return weighted_sum(yy, w);
    };
    Tensor<double> y(s), dx(s), dw(weight.shape()), db(bias.shape());
    auto saved = sge_saved_for<double>(ctx, s, k.groups);
    sge_forward(ctx, x, weight, bias, y, saved);
    sge_backward(ctx, x, w, weight, bias, saved, dx, WriteMode::Overwrite, dw, db, WriteMode::Overwrite);
    const int pts = 48;
    const double eps = 1e-5;  // see test_se.cpp: loss rounding over a smaller step is too noisy
    check_gradient_report(x, dx, loss, "sge dx " + std::to_string(s.numel()), rng, pts, eps);
    check_gradient_report(weight, dw, loss, "sge weight", rng, pts, eps);
    check_gradient_report(bias, db, loss, "sge bias", rng, pts, eps);

    Tensor<double> gx(s), gw(weight.shape()), gb(bias.shape());
    for (auto* t : {&gx, &gw, &gb}) fill(ctx, *t, 0.25);
    sge_backward(ctx, x, w, weight, bias, saved, gx, WriteMode::Accumulate, gw, gb, WriteMode::Accumulate);
    require_accumulated({{&gx, &dx}, {&gw, &dw}, {&gb, &db}}, 0.25);
  }
}

TEMPLATE_TEST_CASE("sge backward on strided views matches the contiguous one", "[ops][sge][grad]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-13;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{3, 8, 4, 3};
  Tensor<T> weight, bias;
  random_gate_params(4, rng, weight, bias);
  ChannelViews<T> v(s, rng);
  auto &xv = v.x, &gv = v.g, &dv = v.d;
  auto saved = sge_saved_for<T>(ctx, s, 4);
  Tensor<T> y(s);
  sge_forward(ctx, xv, weight, bias, y, saved);
  Tensor<T> dx(s), dw(weight.shape()), db(bias.shape()), ew(weight.shape()), eb(bias.shape());
  sge_backward(ctx, contiguous(xv), contiguous(gv), weight, bias, saved, dx, WriteMode::Overwrite, dw, db,
               WriteMode::Overwrite);
  sge_backward(ctx, xv, gv, weight, bias, saved, dv, WriteMode::Overwrite, ew, eb, WriteMode::Overwrite);
  require_close(contiguous(dv), dx, tol, tol, "dx view");
  require_close(ew, dw, tol, tol, "dweight view");
  require_close(eb, db, tol, tol, "dbias view");
}

TEST_CASE("sge rejects inconsistent shapes naming the op and the tensor", "[ops][sge][errors]") {
  Context<Cpu> ctx;
  const Shape s{2, 12, 4, 4};
  Tensor<float> x(s), y(s), w(Shape{1, 8, 1, 1}), b(Shape{1, 8, 1, 1});
  auto saved = sge_saved_for<float>(ctx, s, 8);
  REQUIRE_THROWS_WITH(sge_forward(ctx, x, w, b, y, saved),
                      Catch::Contains("sge_forward") && Catch::Contains("12 channels") && Catch::Contains("8 groups"));
  Tensor<float> w4(Shape{1, 4, 1, 1}), b_bad(Shape{4});
  auto saved4 = sge_saved_for<float>(ctx, s, 4);
  REQUIRE_THROWS_WITH(sge_forward(ctx, x, w4, b_bad, y, saved4),
                      Catch::Contains("sge_forward") && Catch::Contains("bias") && Catch::Contains("[1, 4, 1, 1]"));
  const Shape one{2, 8, 1, 1};
  Tensor<float> x1(one), y1(one);
  auto saved1 = sge_saved_for<float>(ctx, one, 8);
  REQUIRE_THROWS_WITH(sge_forward(ctx, x1, w, b, y1, saved1),
                      Catch::Contains("sge_forward") && Catch::Contains("at least 2 pixels"));
  Tensor<float> y_bad(Shape{2, 12, 4, 5});
  REQUIRE_THROWS_WITH(sge_forward(ctx, x, w4, w4, y_bad, saved4),
                      Catch::Contains("sge_forward") && Catch::Contains("[2, 12, 4, 5]"));
}
