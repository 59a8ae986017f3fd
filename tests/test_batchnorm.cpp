// BatchNorm2d: training and eval forward against a naive double loop (also far from zero), running
// statistics against PyTorch's formula, backward against finite differences, write modes and strided views.
#include <cmath>
#include <vector>

#include "srmds/ops/batchnorm.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "support/testing.hpp"

using namespace srmds;
using srmds::test::check_gradient;
using srmds::test::contiguous;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
using srmds::test::require_close;
using srmds::test::weighted_sum;

namespace {

constexpr double kEps = 1e-5;
constexpr double kMomentum = 0.1;

template <class T>
double tol() {
  return std::is_same_v<T, float> ? 3e-5 : 1e-12;
}

// Naive per-channel biased mean and variance, in double.
template <class T>
void naive_stats(const Tensor<T>& x, std::vector<double>& mean, std::vector<double>& var) {
  const Shape& s = x.shape();
  mean.assign(static_cast<size_t>(s.c()), 0.0);
  var.assign(static_cast<size_t>(s.c()), 0.0);
  const double m = static_cast<double>(s.n() * s.h() * s.w());
  for (int64_t c = 0; c < s.c(); ++c) {
    double sum = 0;
    for (int64_t n = 0; n < s.n(); ++n)
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w) sum += x.at(n, c, h, w);
    const double mu = sum / m;
    double sq = 0;
    for (int64_t n = 0; n < s.n(); ++n)
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w) sq += (x.at(n, c, h, w) - mu) * (x.at(n, c, h, w) - mu);
    mean[static_cast<size_t>(c)] = mu;
    var[static_cast<size_t>(c)] = sq / m;
  }
}

// y = gamma (x - mean) / sqrt(var + eps) + beta, in double.
template <class T>
Tensor<double> naive_normalize(const Tensor<T>& x, const Tensor<T>& gamma, const Tensor<T>& beta,
                               const std::vector<double>& mean, const std::vector<double>& var) {
  const Shape& s = x.shape();
  Tensor<double> y(s);
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t c = 0; c < s.c(); ++c)
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w)
          y.at(n, c, h, w) = gamma[c] * (x.at(n, c, h, w) - mean[static_cast<size_t>(c)]) /
                                 std::sqrt(var[static_cast<size_t>(c)] + kEps) +
                             beta[c];
  return y;
}

// A strided channel view of `count` channels inside a bigger random tensor (owned by `parent`).
template <class T>
Tensor<T> strided(Tensor<T>& parent, const Shape& s, Rng& rng) {
  parent = random_tensor<T>(Shape{s.n(), s.c() + 3, s.h(), s.w()}, rng);
  return parent.channels(2, s.c());
}

const std::vector<Shape> kShapes = {Shape{2, 3, 5, 7}, Shape{3, 5, 4, 6}, Shape{1, 1, 3, 9}, Shape{4, 7, 2, 3},
                                    Shape{2, 9, 48, 40}};  // large enough to run in parallel

}  // namespace

TEMPLATE_TEST_CASE("batchnorm training forward and running statistics match PyTorch's formula", "[ops][batchnorm]",
                   float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Shape& s : kShapes) {
    for (bool views : {false, true}) {
      INFO("shape " << s << (views ? " (strided views)" : ""));
      const int64_t c = s.c();
      Tensor<T> xp, yp;
      Tensor<T> x = views ? strided<T>(xp, s, rng) : random_tensor<T>(s, rng, -2.0, 3.0);
      Tensor<T> y = views ? strided<T>(yp, s, rng) : Tensor<T>(s);
      auto gamma = random_tensor<T>(Shape{c}, rng, 0.5, 1.5);
      auto beta = random_tensor<T>(Shape{c}, rng);
      auto rm = random_tensor<T>(Shape{c}, rng);
      auto rv = random_tensor<T>(Shape{c}, rng, 0.5, 2.0);
      const auto rm0 = contiguous(rm), rv0 = contiguous(rv);
      Tensor<T> save_mean(Shape{c}), save_invstd(Shape{c});
      batchnorm_forward_train(ctx, x, gamma, beta, rm, rv, kMomentum, kEps, y, WriteMode::Overwrite, save_mean,
                              save_invstd);

      std::vector<double> mean, var;
      naive_stats(x, mean, var);
      require_close(contiguous(y), naive_normalize(x, gamma, beta, mean, var), tol<T>(), tol<T>(), "y");

      // PyTorch: running_mean = (1 - m) rm + m mean; running_var = (1 - m) rv + m * unbiased var.
      const double count = static_cast<double>(s.n() * s.h() * s.w());
      Tensor<double> rm_ref(Shape{c}), rv_ref(Shape{c}), mean_ref(Shape{c}), invstd_ref(Shape{c});
      for (int64_t k = 0; k < c; ++k) {
        double sq = 0;
        for (int64_t n = 0; n < s.n(); ++n)
          for (int64_t h = 0; h < s.h(); ++h)
            for (int64_t w = 0; w < s.w(); ++w) {
              const double d = x.at(n, k, h, w) - mean[static_cast<size_t>(k)];
              sq += d * d;
            }
        const double unbiased = sq / (count - 1);
        rm_ref[k] = 0.9 * rm0[k] + 0.1 * mean[static_cast<size_t>(k)];
        rv_ref[k] = 0.9 * rv0[k] + 0.1 * unbiased;
        mean_ref[k] = mean[static_cast<size_t>(k)];
        invstd_ref[k] = 1 / std::sqrt(var[static_cast<size_t>(k)] + kEps);
      }
      require_close(rm, rm_ref, tol<T>(), tol<T>(), "running_mean");
      require_close(rv, rv_ref, tol<T>(), tol<T>(), "running_var");
      require_close(save_mean, mean_ref, tol<T>(), tol<T>(), "save_mean");
      require_close(save_invstd, invstd_ref, tol<T>(), tol<T>(), "save_invstd");

      // Accumulate adds the normalised output to what y holds.
      auto base = random_tensor<T>(s, rng);
      Tensor<T> acc(s);
      copy(ctx, base, acc);
      batchnorm_forward_train(ctx, x, gamma, beta, rm, rv, kMomentum, kEps, acc, WriteMode::Accumulate, save_mean,
                              save_invstd);
      Tensor<double> acc_ref = naive_normalize(x, gamma, beta, mean, var);
      for (int64_t i = 0; i < acc_ref.numel(); ++i) acc_ref[i] += base[i];
      require_close(acc, acc_ref, tol<T>(), tol<T>(), "y accumulated");
    }
  }
}

// The statistics are one pass over memory (blockwise mean and squares merged pairwise): far from zero
// they must stay as accurate as the naive two-pass sum about the mean.
TEMPLATE_TEST_CASE("batchnorm statistics stay accurate for a mean 1e4 times the spread", "[ops][batchnorm]", float,
                   double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{2, 3, 40, 61};  // planes of 2440 values: several blocks and a partial one
  auto x = random_tensor<T>(s, rng, 1e4 - 1.0, 1e4 + 1.0);
  Tensor<T> y(s), gamma(Shape{3}), beta(Shape{3}), rm(Shape{3}), rv(Shape{3}), save_mean(Shape{3}),
      save_invstd(Shape{3});
  for (int64_t c = 0; c < 3; ++c) gamma[c] = 1;
  batchnorm_forward_train(ctx, x, gamma, beta, rm, rv, kMomentum, kEps, y, WriteMode::Overwrite, save_mean,
                          save_invstd);
  std::vector<double> mean, var;
  naive_stats(x, mean, var);
  for (int64_t c = 0; c < 3; ++c) {
    INFO("channel " << c << ": var " << var[static_cast<size_t>(c)]);
    REQUIRE(std::abs(save_mean[c] - mean[static_cast<size_t>(c)]) <= (std::is_same_v<T, float> ? 2e-3 : 1e-10));
    const double invstd = 1 / std::sqrt(var[static_cast<size_t>(c)] + kEps);
    REQUIRE(std::abs(save_invstd[c] - invstd) <= tol<T>() * invstd);
  }
}

TEST_CASE("batchnorm running statistics match the value PyTorch gives for a known input", "[ops][batchnorm]") {
  // torch.nn.BatchNorm2d(1) on x = [1, 2, 3, 6] (1x1x2x2), running stats (0, 1), one training step:
  // mean 3, unbiased var 14/3 -> running_mean 0.3, running_var 0.9 + 0.1 * 14/3.
  Context<Cpu> ctx;
  Tensor<double> x(Shape{1, 1, 2, 2}), y(Shape{1, 1, 2, 2});
  x[0] = 1, x[1] = 2, x[2] = 3, x[3] = 6;
  Tensor<double> gamma(Shape{1}), beta(Shape{1}), rm(Shape{1}), rv(Shape{1}), sm(Shape{1}), si(Shape{1});
  gamma[0] = 1;
  rv[0] = 1;
  batchnorm_forward_train(ctx, x, gamma, beta, rm, rv, 0.1, 1e-5, y, WriteMode::Overwrite, sm, si);
  REQUIRE(rm[0] == Approx(0.3).epsilon(1e-14));
  REQUIRE(rv[0] == Approx(0.9 + 0.1 * 14.0 / 3.0).epsilon(1e-14));
  REQUIRE(y[0] == Approx(-2 / std::sqrt(3.5 + 1e-5)).epsilon(1e-14));
}

TEMPLATE_TEST_CASE("batchnorm eval forward matches a naive loop", "[ops][batchnorm]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Shape& s : kShapes) {
    for (bool views : {false, true}) {
      INFO("shape " << s << (views ? " (strided views)" : ""));
      const int64_t c = s.c();
      Tensor<T> xp, yp;
      Tensor<T> x = views ? strided<T>(xp, s, rng) : random_tensor<T>(s, rng, -2.0, 3.0);
      Tensor<T> y = views ? strided<T>(yp, s, rng) : Tensor<T>(s);
      auto gamma = random_tensor<T>(Shape{c}, rng, 0.5, 1.5);
      auto beta = random_tensor<T>(Shape{c}, rng);
      auto rm = random_tensor<T>(Shape{c}, rng);
      auto rv = random_tensor<T>(Shape{c}, rng, 0.5, 2.0);
      batchnorm_forward_eval(ctx, x, gamma, beta, rm, rv, kEps, y, WriteMode::Overwrite);
      std::vector<double> mean(static_cast<size_t>(c)), var(static_cast<size_t>(c));
      for (int64_t k = 0; k < c; ++k) mean[static_cast<size_t>(k)] = rm[k], var[static_cast<size_t>(k)] = rv[k];
      const Tensor<double> ref = naive_normalize(x, gamma, beta, mean, var);
      require_close(contiguous(y), ref, tol<T>(), tol<T>(), "eval y");

      const Tensor<T> before = contiguous(y);
      batchnorm_forward_eval(ctx, x, gamma, beta, rm, rv, kEps, y, WriteMode::Accumulate);
      Tensor<double> acc_ref(s);
      for (int64_t i = 0; i < ref.numel(); ++i) acc_ref[i] = ref[i] + before[i];
      require_close(contiguous(y), acc_ref, tol<T>(), tol<T>(), "eval y accumulated");
    }
  }
}

TEST_CASE("batchnorm backward matches finite differences for x, gamma and beta", "[ops][batchnorm][grad]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Shape& s : {Shape{2, 3, 3, 5}, Shape{3, 1, 2, 3}, Shape{1, 4, 5, 2}}) {
    INFO("shape " << s);
    const int64_t c = s.c();
    auto x = random_tensor<double>(s, rng, -2.0, 2.0);
    auto gamma = random_tensor<double>(Shape{c}, rng, 0.5, 1.5);
    auto beta = random_tensor<double>(Shape{c}, rng);
    auto w = random_tensor<double>(s, rng);
    Tensor<double> rm(Shape{c}), rv(Shape{c}), sm(Shape{c}), si(Shape{c}), y(s);
    auto loss = [&] {
      Tensor<double> yy(s), m(Shape{c}), v(Shape{c}), a(Shape{c}), b(Shape{c});
      batchnorm_forward_train(ctx, x, gamma, beta, m, v, kMomentum, kEps, yy, WriteMode::Overwrite, a, b);
      return weighted_sum(yy, w);
    };
    batchnorm_forward_train(ctx, x, gamma, beta, rm, rv, kMomentum, kEps, y, WriteMode::Overwrite, sm, si);
    Tensor<double> dx(s), dgamma(Shape{c}), dbeta(Shape{c});
    batchnorm_backward(ctx, x, w, gamma, sm, si, &dx, WriteMode::Overwrite, &dgamma, &dbeta, WriteMode::Overwrite);
    check_gradient(x, dx, loss, "bn dx", rng);
    check_gradient(gamma, dgamma, loss, "bn dgamma", rng);
    check_gradient(beta, dbeta, loss, "bn dbeta", rng);

    // Accumulate adds the same gradients to what the outputs hold.
    auto dx0 = random_tensor<double>(s, rng), dg0 = random_tensor<double>(Shape{c}, rng),
         db0 = random_tensor<double>(Shape{c}, rng);
    Tensor<double> dxa(s), dga(Shape{c}), dba(Shape{c});
    copy(ctx, dx0, dxa);
    copy(ctx, dg0, dga);
    copy(ctx, db0, dba);
    batchnorm_backward(ctx, x, w, gamma, sm, si, &dxa, WriteMode::Accumulate, &dga, &dba, WriteMode::Accumulate);
    for (int64_t i = 0; i < dx.numel(); ++i) REQUIRE(dxa[i] == Approx(dx0[i] + dx[i]).epsilon(1e-12).margin(1e-12));
    for (int64_t i = 0; i < c; ++i) {
      REQUIRE(dga[i] == Approx(dg0[i] + dgamma[i]).epsilon(1e-12).margin(1e-12));
      REQUIRE(dba[i] == Approx(db0[i] + dbeta[i]).epsilon(1e-12).margin(1e-12));
    }
  }
}

TEMPLATE_TEST_CASE("batchnorm backward on strided views and with absent outputs matches the contiguous one",
                   "[ops][batchnorm][grad]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{3, 5, 4, 6};
  const int64_t c = s.c();
  Tensor<T> xp, gp, dp;
  Tensor<T> xv = strided<T>(xp, s, rng), dyv = strided<T>(gp, s, rng), dxv = strided<T>(dp, s, rng);
  auto gamma = random_tensor<T>(Shape{c}, rng, 0.5, 1.5);
  auto beta = random_tensor<T>(Shape{c}, rng);
  Tensor<T> rm(Shape{c}), rv(Shape{c}), sm(Shape{c}), si(Shape{c}), y(s);
  batchnorm_forward_train(ctx, xv, gamma, beta, rm, rv, kMomentum, kEps, y, WriteMode::Overwrite, sm, si);

  // Reference in double on contiguous copies.
  Tensor<double> xd(s), gd(s), gammad(Shape{c}), smd(Shape{c}), sid(Shape{c});
  const Tensor<T> xc = contiguous(xv), gc = contiguous(dyv);
  for (int64_t i = 0; i < xd.numel(); ++i) xd[i] = xc[i], gd[i] = gc[i];
  for (int64_t i = 0; i < c; ++i) gammad[i] = gamma[i], smd[i] = sm[i], sid[i] = si[i];
  Tensor<double> dxd(s), dgd(Shape{c}), dbd(Shape{c});
  batchnorm_backward(ctx, xd, gd, gammad, smd, sid, &dxd, WriteMode::Overwrite, &dgd, &dbd, WriteMode::Overwrite);

  const Tensor<T> parent_before = contiguous(dp);
  Tensor<T>* none = nullptr;  // gradients not wanted
  batchnorm_backward(ctx, xv, dyv, gamma, sm, si, &dxv, WriteMode::Overwrite, none, none, WriteMode::Overwrite);
  require_close(contiguous(dxv), dxd, tol<T>(), tol<T>(), "dx on views");
  Tensor<T> dgamma(Shape{c}), dbeta(Shape{c});
  batchnorm_backward(ctx, xv, dyv, gamma, sm, si, none, WriteMode::Overwrite, &dgamma, &dbeta, WriteMode::Overwrite);
  require_close(dgamma, dgd, tol<T>(), tol<T>(), "dgamma on views");
  require_close(dbeta, dbd, tol<T>(), tol<T>(), "dbeta on views");
  // The parent's channels outside the view are untouched.
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t k : {0, 1, 7})
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w) REQUIRE(dp.at(n, k, h, w) == parent_before.at(n, k, h, w));
}

TEST_CASE("batchnorm rejects bad shapes naming the op and the tensors", "[ops][batchnorm][errors]") {
  Context<Cpu> ctx;
  Tensor<float> x(Shape{2, 3, 4, 4}), y(Shape{2, 3, 4, 4}), y_bad(Shape{2, 3, 4, 5});
  Tensor<float> p3(Shape{3}), p4(Shape{4}), a(Shape{3}), b(Shape{3}), rm(Shape{3}), rv(Shape{3});
  REQUIRE_THROWS_WITH(batchnorm_forward_train(ctx, x, p4, p3, rm, rv, 0.1, 1e-5, y, WriteMode::Overwrite, a, b),
                      Catch::Contains("batchnorm_forward_train") && Catch::Contains("gamma") &&
                          Catch::Contains("[4]") && Catch::Contains("[3]"));
  REQUIRE_THROWS_WITH(
      batchnorm_forward_eval(ctx, x, p3, p3, rm, rv, 1e-5, y_bad, WriteMode::Overwrite),
      Catch::Contains("batchnorm_forward_eval") && Catch::Contains("[2, 3, 4, 4]") && Catch::Contains("[2, 3, 4, 5]"));
  Tensor<float> single(Shape{1, 3, 1, 1}), ys(Shape{1, 3, 1, 1});
  REQUIRE_THROWS_AS(batchnorm_forward_train(ctx, single, p3, p3, rm, rv, 0.1, 1e-5, ys, WriteMode::Overwrite, a, b),
                    Error);
  Tensor<float> dg_bad(Shape{4});
  Tensor<float>* none = nullptr;
  REQUIRE_THROWS_WITH(
      batchnorm_backward(ctx, x, y, p3, a, b, none, WriteMode::Overwrite, &dg_bad, none, WriteMode::Overwrite),
      Catch::Contains("batchnorm_backward") && Catch::Contains("dgamma"));
}
