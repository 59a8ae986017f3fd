// BCE + soft-Dice loss of one scale and the multi-scale deep-supervision loss (SPEC §3): values and
// gradients against naive double loops and finite differences, every target/ds variant, extreme
// logits, strided views, write modes and bad input.
#include "support/testing.hpp"

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "srmds/losses/deep_supervision.hpp"
#include "srmds/ops/bce_dice.hpp"

using namespace srmds;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;

namespace {

// Naive value and gradient of the one-scale loss, straight from the SPEC formula, in double.
struct NaiveLoss {
  double value = 0;
  Tensor<double> grad;  // dL/dz, contiguous
};

template <class T>
NaiveLoss naive_bce_dice(const Tensor<T>& z, const Tensor<T>& y, double dice_weight = 0.5) {
  const Shape& s = z.shape();
  const int64_t N = s.n(), H = s.h(), W = s.w();
  const double M = static_cast<double>(H * W);
  NaiveLoss r;
  r.grad = Tensor<double>(s);
  double bce = 0, dice = 0;
  std::vector<double> I(N), P(N), Y(N);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        const double zz = z.at(n, 0, i, j), yy = y.at(n, 0, i, j);
        const double p = 1.0 / (1.0 + std::exp(-zz));
        bce += -(yy * std::log(p) + (1 - yy) * std::log(1 - p));
        I[n] += p * yy;
        P[n] += p;
        Y[n] += yy;
      }
    dice += (2 * I[n] + 1e-5) / (P[n] + Y[n] + 1e-5);
  }
  r.value = bce / (N * M) + dice_weight * (1 - dice / N);
  for (int64_t n = 0; n < N; ++n) {
    const double den = P[n] + Y[n] + 1e-5;
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        const double zz = z.at(n, 0, i, j), yy = y.at(n, 0, i, j);
        const double p = 1.0 / (1.0 + std::exp(-zz));
        const double ddice = 2 * yy / den - (2 * I[n] + 1e-5) / (den * den);
        r.grad.at(n, 0, i, j) = (p - yy) / (N * M) - dice_weight / N * p * (1 - p) * ddice;
      }
  }
  return r;
}

template <class T>
Tensor<T> random_mask(const Shape& s, Rng& rng, double fraction) {
  Tensor<T> m(s);
  for (int64_t i = 0; i < m.numel(); ++i) m[i] = rng.uniform() < fraction ? T(1) : T(0);
  return m;
}

// Naive deep-supervision target: mean / top-left / max of each f x f block.
Tensor<double> naive_target(const Tensor<double>& mask, int f, TargetMode mode) {
  const Shape& s = mask.shape();
  Tensor<double> out(Shape{s.n(), 1, s.h() / f, s.w() / f});
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t i = 0; i < s.h() / f; ++i)
      for (int64_t j = 0; j < s.w() / f; ++j) {
        double sum = 0, mx = -1;
        for (int a = 0; a < f; ++a)
          for (int b = 0; b < f; ++b) {
            const double v = mask.at(n, 0, i * f + a, j * f + b);
            sum += v;
            mx = std::max(mx, v);
          }
        out.at(n, 0, i, j) = mode == TargetMode::Average ? sum / (f * f)
                             : mode == TargetMode::Max   ? mx
                                                         : mask.at(n, 0, i * f, j * f);
      }
  return out;
}

// Naive bilinear resize (PyTorch's definition) of (N, 1, h, w) to (N, 1, H, W).
Tensor<double> naive_upsample(const Tensor<double>& x, int64_t H, int64_t W, bool ac) {
  const int64_t h = x.shape().h(), w = x.shape().w();
  auto src = [ac](int64_t d, int64_t in, int64_t out) {
    if (ac) return out > 1 ? static_cast<double>(d) * (in - 1) / (out - 1) : 0.0;
    return std::max((d + 0.5) * in / out - 0.5, 0.0);
  };
  Tensor<double> y(Shape{x.shape().n(), 1, H, W});
  for (int64_t n = 0; n < x.shape().n(); ++n)
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        const double si = src(i, h, H), sj = src(j, w, W);
        const int64_t i0 = std::min<int64_t>(static_cast<int64_t>(std::floor(si)), h - 1);
        const int64_t j0 = std::min<int64_t>(static_cast<int64_t>(std::floor(sj)), w - 1);
        const int64_t i1 = std::min(i0 + 1, h - 1), j1 = std::min(j0 + 1, w - 1);
        const double li = si - i0, lj = sj - j0;
        y.at(n, 0, i, j) = (1 - li) * ((1 - lj) * x.at(n, 0, i0, j0) + lj * x.at(n, 0, i0, j1)) +
                           li * ((1 - lj) * x.at(n, 0, i1, j0) + lj * x.at(n, 0, i1, j1));
      }
  return y;
}

template <class T>
Tensor<double> to_double(const Tensor<T>& t) {
  Tensor<double> d(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<double>(t[i]);
  return d;
}

}  // namespace

TEMPLATE_TEST_CASE("bce_dice_loss matches a naive double implementation", "[loss]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const double grad_rtol = std::is_same_v<T, float> ? 2e-6 : 1e-11;
  for (Shape s : {Shape{1, 1, 5, 7}, Shape{3, 1, 8, 6}, Shape{2, 1, 1, 1}, Shape{4, 1, 16, 12}, Shape{2, 1, 150, 130}}) {
    INFO("shape " << s);
    auto z = random_tensor<T>(s, rng, -6, 6);
    // Soft targets, binary targets and an empty mask.
    std::vector<Tensor<T>> targets;
    targets.push_back(random_tensor<T>(s, rng, 0, 1));
    targets.push_back(random_mask<T>(s, rng, 0.3));
    targets.push_back(Tensor<T>(s));
    for (auto& y : targets) {
      const NaiveLoss ref = naive_bce_dice(z, y);
      Tensor<T> dz(s);
      const double weight = 0.37;
      const double value = bce_dice_loss(ctx, z, y, weight, &dz, WriteMode::Overwrite);
      REQUIRE(value == Approx(ref.value).epsilon(1e-12));
      REQUIRE(bce_dice_loss(ctx, z, y, 1.0, nullptr, WriteMode::Overwrite) == value);
      Tensor<double> want(s);
      for (int64_t i = 0; i < want.numel(); ++i) want[i] = weight * ref.grad[i];
      double gmax = 0;
      for (int64_t i = 0; i < want.numel(); ++i) gmax = std::max(gmax, std::abs(want[i]));
      srmds::test::require_close(dz, want, grad_rtol, grad_rtol * gmax, "dz");
      // Accumulate adds weight * dL/dz on top.
      bce_dice_loss(ctx, z, y, weight, &dz, WriteMode::Accumulate);
      for (int64_t i = 0; i < want.numel(); ++i) want[i] *= 2;
      srmds::test::require_close(dz, want, grad_rtol, grad_rtol * gmax, "dz accumulated");
    }
  }
}

TEST_CASE("bce_dice_loss works on strided channel views and in place", "[loss]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{3, 1, 9, 11};
  auto zw = random_tensor<double>(Shape{3, 3, 9, 11}, rng, -4, 4);
  auto yw = random_tensor<double>(Shape{3, 2, 9, 11}, rng, 0, 1);
  Tensor<double> dw(Shape{3, 4, 9, 11});
  const Tensor<double> z = zw.channels(1, 1), y = yw.channels(1, 1);
  Tensor<double> dz = dw.channels(2, 1);
  REQUIRE_FALSE(z.is_contiguous());
  Tensor<double> zc(s), yc(s);
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t i = 0; i < 9; ++i)
      for (int64_t j = 0; j < 11; ++j) {
        zc.at(n, 0, i, j) = z.at(n, 0, i, j);
        yc.at(n, 0, i, j) = y.at(n, 0, i, j);
      }
  const NaiveLoss ref = naive_bce_dice(zc, yc);
  REQUIRE(bce_dice_loss(ctx, z, y, 1.0, &dz, WriteMode::Overwrite) == Approx(ref.value).epsilon(1e-12));
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t i = 0; i < 9; ++i)
      for (int64_t j = 0; j < 11; ++j) {
        REQUIRE(dz.at(n, 0, i, j) == Approx(ref.grad.at(n, 0, i, j)).epsilon(1e-10).margin(1e-15));
        REQUIRE(dw.at(n, 1, i, j) == 0.0);  // neighbours untouched
        REQUIRE(dw.at(n, 3, i, j) == 0.0);
      }
  // In place: dz aliases z.
  REQUIRE(bce_dice_loss(ctx, zc, yc, 1.0, &zc, WriteMode::Overwrite) == Approx(ref.value).epsilon(1e-12));
  srmds::test::require_close(zc, ref.grad, 1e-10, 1e-15, "in-place dz");
}

TEST_CASE("bce_dice_loss gradient matches finite differences", "[loss][grad]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (Shape s : {Shape{2, 1, 5, 6}, Shape{1, 1, 3, 4}, Shape{3, 1, 4, 2}}) {
    auto z = random_tensor<double>(s, rng, -3, 3);
    for (int kind = 0; kind < 3; ++kind) {
      Tensor<double> y = kind == 0 ? random_tensor<double>(s, rng, 0, 1)
                         : kind == 1 ? random_mask<double>(s, rng, 0.4)
                                     : Tensor<double>(s);
      Tensor<double> dz(s);
      bce_dice_loss(ctx, z, y, 1.0, &dz, WriteMode::Overwrite);
      srmds::test::check_gradient(
          z, dz, [&] { return bce_dice_loss(ctx, z, y, 1.0, nullptr, WriteMode::Overwrite); },
          "bce_dice dz", rng, 64);
    }
  }
}

TEMPLATE_TEST_CASE("bce_dice_loss takes the Dice weight (0: BCE alone, 1: BCE + Dice)", "[loss]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const double grad_rtol = std::is_same_v<T, float> ? 2e-6 : 1e-11;
  for (Shape s : {Shape{3, 1, 8, 6}, Shape{2, 1, 150, 130}}) {
    const auto z = random_tensor<T>(s, rng, -6, 6);
    const auto y = random_mask<T>(s, rng, 0.3);
    // Mean BCE and mean Dice, naively.
    double bce = 0, dice = 0;
    for (int64_t n = 0; n < s.n(); ++n) {
      double I = 0, P = 0, Y = 0;
      for (int64_t i = 0; i < s.h() * s.w(); ++i) {
        const double zz = z.sample(n)[i], yy = y.sample(n)[i], p = 1.0 / (1.0 + std::exp(-zz));
        bce += -(yy * std::log(p) + (1 - yy) * std::log(1 - p));
        I += p * yy, P += p, Y += yy;
      }
      dice += (2 * I + 1e-5) / (P + Y + 1e-5);
    }
    bce /= static_cast<double>(s.numel());
    dice /= static_cast<double>(s.n());
    for (double lambda : {0.0, 0.5, 1.0, 0.25}) {
      INFO("shape " << s << " dice weight " << lambda);
      const NaiveLoss ref = naive_bce_dice(z, y, lambda);
      REQUIRE(ref.value == Approx(bce + lambda * (1 - dice)).epsilon(1e-12));
      Tensor<T> dz(s);
      const double weight = 0.6;
      const double value = bce_dice_loss(ctx, z, y, weight, &dz, WriteMode::Overwrite, lambda);
      REQUIRE(value == Approx(ref.value).epsilon(1e-12));
      if (lambda == 0.0) REQUIRE(value == Approx(bce).epsilon(1e-12));
      if (lambda == 0.5) REQUIRE(bce_dice_loss(ctx, z, y, weight, nullptr, WriteMode::Overwrite) == value);
      Tensor<double> want(s);
      double gmax = 0;
      for (int64_t i = 0; i < want.numel(); ++i) gmax = std::max(gmax, std::abs(want[i] = weight * ref.grad[i]));
      srmds::test::require_close(dz, want, grad_rtol, grad_rtol * gmax, "dz");
    }
  }
}

TEST_CASE("bce_dice_loss gradient matches finite differences for Dice weights 0 and 1", "[loss][grad]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{2, 1, 5, 6};
  auto z = random_tensor<double>(s, rng, -3, 3);
  const auto y = random_mask<double>(s, rng, 0.4);
  for (double lambda : {0.0, 1.0}) {
    INFO("dice weight " << lambda);
    Tensor<double> dz(s);
    bce_dice_loss(ctx, z, y, 1.0, &dz, WriteMode::Overwrite, lambda);
    srmds::test::check_gradient(
        z, dz, [&] { return bce_dice_loss(ctx, z, y, 1.0, nullptr, WriteMode::Overwrite, lambda); },
        "bce_dice dz", rng, 64);
  }
  Tensor<double> dz(s);
  REQUIRE_THROWS_WITH(bce_dice_loss(ctx, z, y, 1.0, &dz, WriteMode::Overwrite, -0.5),
                      Catch::Contains("dice_weight"));
}

TEST_CASE("bce_dice_loss is finite for extreme logits", "[loss]") {
  Context<Cpu> ctx;
  // z = +-100 against y = 0/1: BCE is 100 for the two wrong pixels, ~0 for the right ones.
  Tensor<float> z(Shape{1, 1, 2, 2}), y(Shape{1, 1, 2, 2}), dz(Shape{1, 1, 2, 2});
  z[0] = 100, y[0] = 0;    // wrong: bce 100
  z[1] = -100, y[1] = 1;   // wrong: bce 100
  z[2] = 100, y[2] = 1;    // right
  z[3] = -100, y[3] = 0;   // right
  const double value = bce_dice_loss(ctx, z, y, 1.0, &dz, WriteMode::Overwrite);
  // I = 1, P = 2, Y = 2: dice = (2 + s) / (4 + s).
  const double want = 200.0 / 4 + 0.5 * (1 - (2 + 1e-5) / (4 + 1e-5));
  REQUIRE(value == Approx(want).epsilon(1e-12));
  for (int i = 0; i < 4; ++i) REQUIRE(std::isfinite(dz[i]));
  REQUIRE(dz[0] == Approx(0.25).epsilon(1e-6));
  REQUIRE(dz[1] == Approx(-0.25).epsilon(1e-6));
  REQUIRE(std::abs(dz[2]) < 1e-30);
  REQUIRE(std::abs(dz[3]) < 1e-30);

  Rng rng(fresh_seed());
  const Shape s{2, 1, 6, 10};
  Tensor<float> zz(s), yy = random_mask<float>(s, rng, 0.5), dd(s);
  for (int64_t i = 0; i < zz.numel(); ++i) zz[i] = rng.uniform() < 0.5 ? 100.f : -100.f;
  const double v = bce_dice_loss(ctx, zz, yy, 1.0, &dd, WriteMode::Overwrite);
  REQUIRE(std::isfinite(v));
  for (int64_t i = 0; i < dd.numel(); ++i) REQUIRE(std::isfinite(dd[i]));
}

TEST_CASE("bce_dice_loss rejects bad shapes naming the op and the shapes", "[loss][errors]") {
  Context<Cpu> ctx;
  Tensor<float> z(Shape{2, 1, 4, 4}), y(Shape{2, 1, 4, 5}), z2(Shape{2, 2, 4, 4}), dz(Shape{2, 1, 4, 3});
  REQUIRE_THROWS_WITH(bce_dice_loss(ctx, z, y, 1.0, nullptr, WriteMode::Overwrite),
                      Catch::Contains("bce_dice_loss") && Catch::Contains("[2, 1, 4, 4]") &&
                          Catch::Contains("[2, 1, 4, 5]"));
  REQUIRE_THROWS_WITH(bce_dice_loss(ctx, z2, z2, 1.0, nullptr, WriteMode::Overwrite),
                      Catch::Contains("bce_dice_loss") && Catch::Contains("one channel"));
  REQUIRE_THROWS_WITH(bce_dice_loss(ctx, z, z, 1.0, &dz, WriteMode::Overwrite),
                      Catch::Contains("bce_dice_loss") && Catch::Contains("dz") && Catch::Contains("[2, 1, 4, 3]"));
  Tensor<float> flat(Shape{16});
  REQUIRE_THROWS_WITH(bce_dice_loss(ctx, flat, flat, 1.0, nullptr, WriteMode::Overwrite),
                      Catch::Contains("bce_dice_loss") && Catch::Contains("[16]"));
}

// ---- deep supervision -----------------------------------------------------------------------

namespace {

using Logits = std::array<Tensor<double>, 4>;

Logits random_logits(const Shape& full, Rng& rng, double lo = -3, double hi = 3) {
  Logits z;
  for (int s = 0; s < 4; ++s) z[s] = random_tensor<double>(Shape{full.n(), 1, full.h() >> s, full.w() >> s}, rng, lo, hi);
  return z;
}

// One deep-supervision variant: the loss's options and the network's align_corners (which the
// loss takes from the NetConfig).
struct DsCase : DeepSupervisionOptions {
  bool align_corners = true;
};

NetConfig net_config(bool align_corners) {
  NetConfig c;
  c.align_corners = align_corners;
  return c;
}

// Naive multi-scale loss: value, per-scale values, and (ds native/off) the gradients.
struct NaiveDs {
  double value = 0;
  std::array<double, 4> scales{};
};

NaiveDs naive_ds(const Logits& z, const Tensor<double>& mask, const DsCase& o) {
  NaiveDs r;
  for (int s = 0; s < 4; ++s) {
    if (o.ds == DsMode::Off && s > 0) continue;
    double ls;
    if (o.ds == DsMode::Upsample && s > 0)
      ls = naive_bce_dice(naive_upsample(z[s], mask.shape().h(), mask.shape().w(), o.align_corners), mask,
                          o.dice_weight)
               .value;
    else
      ls = naive_bce_dice(z[s], naive_target(mask, 1 << s, o.target), o.dice_weight).value;
    r.scales[s] = ls;
    r.value += (o.ds == DsMode::Off ? 1.0 : o.weights[s]) * ls;
  }
  return r;
}

std::vector<DsCase> all_variants() {
  std::vector<DsCase> v;
  for (TargetMode t : {TargetMode::Average, TargetMode::Nearest, TargetMode::Max}) {
    DsCase o;
    o.target = t;
    v.push_back(o);
  }
  for (bool ac : {true, false}) {
    DsCase o;
    o.ds = DsMode::Upsample;
    o.align_corners = ac;
    v.push_back(o);
  }
  DsCase off;
  off.ds = DsMode::Off;
  v.push_back(off);
  DsCase custom;
  custom.weights = {0.5, 0.0, 0.3, 1.25};
  custom.target = TargetMode::Max;
  v.push_back(custom);
  DsCase custom_up = custom;
  custom_up.ds = DsMode::Upsample;
  v.push_back(custom_up);
  for (double lambda : {0.0, 1.0}) {  // Dice weights of the paper's loss ablation
    DsCase o;
    o.dice_weight = lambda;
    v.push_back(o);
    o.ds = DsMode::Upsample;
    v.push_back(o);
  }
  return v;
}

const char* ds_name(DsMode m) { return m == DsMode::Native ? "native" : m == DsMode::Upsample ? "upsample" : "off"; }

}  // namespace

TEST_CASE("deep supervision loss matches a naive implementation and finite differences", "[loss][ds][grad]") {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const Shape full{2, 1, 16, 24};
  for (const auto& o : all_variants()) {
    INFO("ds " << ds_name(o.ds) << " target " << static_cast<int>(o.target) << " align_corners " << o.align_corners
               << " weights " << o.weights[0] << "," << o.weights[1] << "," << o.weights[2] << "," << o.weights[3]
               << " dice weight " << o.dice_weight);
    DeepSupervisionLoss<double, Cpu> loss(net_config(o.align_corners), o);
    auto mask = random_mask<double>(full, rng, 0.35);
    Logits z = random_logits(full, rng);
    Logits dz;
    const NaiveDs ref = naive_ds(z, mask, o);
    const double value = loss.forward_backward(ctx, z, mask, dz);
    INFO("per scale: " << loss.scale_losses()[0] << " " << loss.scale_losses()[1] << " " << loss.scale_losses()[2]
                       << " " << loss.scale_losses()[3] << " naive " << ref.scales[0] << " " << ref.scales[1] << " "
                       << ref.scales[2] << " " << ref.scales[3]);
    REQUIRE(value == Approx(ref.value).epsilon(1e-12));
    REQUIRE(loss.last_loss() == value);
    REQUIRE(loss.forward(ctx, z, mask) == value);
    for (int s = 0; s < 4; ++s) {
      INFO("scale " << s);
      REQUIRE(loss.scale_losses()[s] == Approx(ref.scales[s]).epsilon(1e-12).margin(0));
      if (!loss.uses_scale(s)) {
        REQUIRE(dz[s].empty());
        continue;
      }
      REQUIRE(dz[s].shape() == z[s].shape());
      if (o.ds != DsMode::Upsample || s == 0) {
        // Direct comparison with the naive gradient w_s dL_s/dz_s.
        const NaiveLoss nl = naive_bce_dice(z[s], naive_target(mask, 1 << s, o.target), o.dice_weight);
        Tensor<double> want(z[s].shape());
        for (int64_t i = 0; i < want.numel(); ++i) want[i] = loss.scale_weight(s) * nl.grad[i];
        srmds::test::require_close(dz[s], want, 1e-10, 1e-16, "dz vs naive");
      }
      srmds::test::check_gradient(z[s], dz[s], [&] { return naive_ds(z, mask, o).value; }, "ds dz", rng, 40);
    }
  }
}

TEST_CASE("deep supervision: float, extreme logits, soft masks are finite and match double", "[loss][ds]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape full{3, 1, 8, 16};
  for (const auto& o : all_variants()) {
    DeepSupervisionLoss<float, Cpu> loss(net_config(o.align_corners), o);
    std::array<Tensor<float>, 4> z, dz;
    for (int s = 0; s < 4; ++s) {
      z[s] = Tensor<float>(Shape{3, 1, 8 >> s, 16 >> s});
      for (int64_t i = 0; i < z[s].numel(); ++i) z[s][i] = rng.uniform() < 0.5 ? 100.f : -100.f;
    }
    auto mask = random_mask<float>(full, rng, 0.5);
    const double v = loss.forward_backward(ctx, z, mask, dz);
    REQUIRE(std::isfinite(v));
    for (int s = 0; s < 4; ++s) {
      REQUIRE(dz[s].empty() == !loss.uses_scale(s));
      if (!dz[s].empty())
        for (int64_t i = 0; i < dz[s].numel(); ++i) REQUIRE(std::isfinite(dz[s][i]));
    }
    // Moderate logits: the float loss equals the double loss on the same values.
    Logits zd;
    for (int s = 0; s < 4; ++s) {
      for (int64_t i = 0; i < z[s].numel(); ++i) z[s][i] = static_cast<float>(rng.uniform(-4, 4));
      zd[s] = to_double(z[s]);
    }
    DeepSupervisionLoss<double, Cpu> loss_d(net_config(o.align_corners), o);
    Logits dzd;
    const double vf = loss.forward_backward(ctx, z, mask, dz);
    const double vd = loss_d.forward_backward(ctx, zd, to_double(mask), dzd);
    REQUIRE(vf == Approx(vd).epsilon(1e-6));
    // The float path rounds targets and upsampled logits to float: errors scale with the largest gradient.
    for (int s = 0; s < 4; ++s) {
      if (!loss.uses_scale(s)) continue;
      double gmax = 0;
      for (int64_t i = 0; i < dzd[s].numel(); ++i) gmax = std::max(gmax, std::abs(dzd[s][i]));
      srmds::test::require_close(dz[s], dzd[s], 1e-5, 1e-5 * gmax, "float dz vs double");
    }
  }
}

TEST_CASE("deep supervision reuses and reallocates gradient buffers", "[loss][ds]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape full{2, 1, 8, 8};
  DeepSupervisionLoss<double, Cpu> loss{NetConfig{}};
  auto mask = random_mask<double>(full, rng, 0.3);
  Logits z = random_logits(full, rng);
  Logits dz;
  // dz[0] is a view into a larger buffer: written in place; dz[2] has a wrong shape: reallocated.
  Tensor<double> big(Shape{2, 3, 8, 8});
  dz[0] = big.channels(1, 1);
  dz[2] = Tensor<double>(Shape{1, 1, 1, 1});
  loss.forward_backward(ctx, z, mask, dz);
  REQUIRE(dz[0].data() == big.channels(1, 1).data());
  REQUIRE(dz[2].shape() == z[2].shape());
  Logits fresh;
  DeepSupervisionLoss<double, Cpu> loss2{NetConfig{}};
  loss2.forward_backward(ctx, z, mask, fresh);
  for (int s = 0; s < 4; ++s)
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < z[s].shape().h(); ++i)
        for (int64_t j = 0; j < z[s].shape().w(); ++j) REQUIRE(dz[s].at(n, 0, i, j) == fresh[s].at(n, 0, i, j));
  // A second call with new inputs gives the new answer (no stale targets).
  auto mask2 = random_mask<double>(full, rng, 0.6);
  REQUIRE(loss.forward_backward(ctx, z, mask2, dz) == Approx(naive_ds(z, mask2, {}).value).epsilon(1e-12));
  // ds off: only z_0 is needed; stale dz[1..3] are cleared.
  DeepSupervisionOptions off;
  off.ds = DsMode::Off;
  DeepSupervisionLoss<double, Cpu> loss_off(NetConfig{}, off);
  Logits z0only;
  z0only[0] = random_tensor<double>(full, rng);
  loss_off.forward_backward(ctx, z0only, mask, dz);
  for (int s = 1; s < 4; ++s) REQUIRE(dz[s].empty());
  REQUIRE(loss_off.scale_losses()[1] == 0.0);
}

TEST_CASE("deep supervision rejects bad shapes and weights", "[loss][ds][errors]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  DeepSupervisionLoss<double, Cpu> loss{NetConfig{}};
  Logits z = random_logits(Shape{2, 1, 16, 16}, rng), dz;
  auto mask = random_mask<double>(Shape{2, 1, 16, 16}, rng, 0.3);
  z[1] = Tensor<double>(Shape{2, 1, 9, 8});
  REQUIRE_THROWS_WITH(loss.forward_backward(ctx, z, mask, dz),
                      Catch::Contains("deep_supervision") && Catch::Contains("logits[1]") &&
                          Catch::Contains("[2, 1, 9, 8]") && Catch::Contains("[2, 1, 8, 8]"));
  auto odd = random_mask<double>(Shape{2, 1, 12, 16}, rng, 0.3);
  REQUIRE_THROWS_WITH(loss.forward(ctx, z, odd), Catch::Contains("deep_supervision") && Catch::Contains("[2, 1, 12, 16]"));
  auto two_ch = random_mask<double>(Shape{2, 2, 16, 16}, rng, 0.3);
  REQUIRE_THROWS_WITH(loss.forward(ctx, z, two_ch), Catch::Contains("deep_supervision"));
  DeepSupervisionOptions bad;
  bad.weights[2] = -1;
  using Loss = DeepSupervisionLoss<double, Cpu>;
  REQUIRE_THROWS_WITH((Loss{NetConfig{}, bad}), Catch::Contains("weight 2"));
}

// ---- the loss left on the device (bce_dice_loss_to, forward_backward_to) ------------------------

namespace {

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

template <class T>
bool same_tensor_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(T)) == 0;
}

// A buffer of `n` one-double slots (n, 1, 1, 1) holding random sentinels.
Tensor<double> slot_buffer(int64_t n, Rng& rng) {
  Tensor<double> b(Shape{n, 1, 1, 1});
  for (int64_t i = 0; i < n; ++i) b[i] = rng.uniform(-1e3, 1e3);
  return b;
}

}  // namespace

TEMPLATE_TEST_CASE("bce_dice_loss_to leaves L in device slots: value and weighted sum, bit for bit", "[loss]", float,
                   double) {
  using T = TestType;
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  for (int rep = 0; rep < 6; ++rep) {
    const Shape s{1 + static_cast<int64_t>(rng.below(3)), 1, 1 + static_cast<int64_t>(rng.below(19)), 1 + static_cast<int64_t>(rng.below(23))};
    const double lambda = rep % 3 == 0 ? 0.0 : rep % 3 == 1 ? 0.5 : 1.0;
    const double w = rng.uniform(0.05, 2), w2 = rng.uniform(0.05, 2);
    INFO("shape " << s << " dice weight " << lambda << " weights " << w << ", " << w2);
    const Tensor<T> z = random_tensor<T>(s, rng, -6, 6);
    const Tensor<T> y = random_mask<T>(s, rng, 0.3);
    Tensor<T> dz_ref(s), dz(s);
    const double ref = bce_dice_loss(ctx, z, y, w, &dz_ref, WriteMode::Overwrite, lambda);
    REQUIRE(ref == Approx(naive_bce_dice(z, y, lambda).value).epsilon(1e-12));

    Tensor<double> buf = slot_buffer(6, rng);
    const Tensor<double> before = to_host(ctx, buf);
    Tensor<double> value = buf.samples(1, 1), sum = buf.samples(4, 1);
    LossOutput<Cpu> out;
    out.value = &value;
    out.sum = &sum;
    out.sum_weight = w2;
    out.sum_mode = WriteMode::Overwrite;
    bce_dice_loss_to(ctx, z, y, w, &dz, WriteMode::Overwrite, lambda, out);
    CHECK(same_tensor_bits(dz, dz_ref));
    CHECK(same_bits(buf[1], ref));
    CHECK(same_bits(buf[4], 0.0 + w2 * ref));
    for (int64_t i : {0, 2, 3, 5}) CHECK(same_bits(buf[i], before[i]));
    // Accumulate adds to what the slot holds; value only and sum only; no gradient.
    const double held = buf[4];
    out.value = nullptr;
    out.sum_mode = WriteMode::Accumulate;
    bce_dice_loss_to(ctx, z, y, w, static_cast<Tensor<T>*>(nullptr), WriteMode::Overwrite, lambda, out);
    CHECK(same_bits(buf[4], held + w2 * ref));
    CHECK(same_bits(buf[1], ref));
    LossOutput<Cpu> value_only;
    Tensor<double> slot5 = buf.samples(5, 1);
    value_only.value = &slot5;
    bce_dice_loss_to(ctx, z, y, w, static_cast<Tensor<T>*>(nullptr), WriteMode::Overwrite, lambda, value_only);
    CHECK(same_bits(buf[5], ref));
    for (int64_t i : {0, 2, 3}) CHECK(same_bits(buf[i], before[i]));
  }
}

TEST_CASE("bce_dice_loss_to rejects outputs that are not one double", "[loss][errors]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{2, 1, 4, 4};
  const Tensor<double> z = random_tensor<double>(s, rng, -2, 2), y = random_mask<double>(s, rng, 0.5);
  Tensor<double> two(Shape{2, 1, 1, 1}), one(Shape{1, 1, 1, 1}), none;
  LossOutput<Cpu> out;
  out.value = &two;
  REQUIRE_THROWS_WITH(bce_dice_loss_to(ctx, z, y, 1.0, nullptr, WriteMode::Overwrite, 0.5, out),
                      Catch::Contains("bce_dice_loss") && Catch::Contains("value output") && Catch::Contains("[2, 1, 1, 1]"));
  out.value = nullptr;
  out.sum = &none;
  REQUIRE_THROWS_WITH(bce_dice_loss_to(ctx, z, y, 1.0, nullptr, WriteMode::Overwrite, 0.5, out),
                      Catch::Contains("sum output"));
  out.value = &one;
  out.sum = &one;
  REQUIRE_THROWS_WITH(bce_dice_loss_to(ctx, z, y, 1.0, nullptr, WriteMode::Overwrite, 0.5, out),
                      Catch::Contains("the same double"));
  Tensor<double> other(Shape{1, 1, 1, 1});
  out.sum = &other;
  out.sum_weight = std::nan("");
  REQUIRE_THROWS_WITH(bce_dice_loss_to(ctx, z, y, 1.0, nullptr, WriteMode::Overwrite, 0.5, out),
                      Catch::Contains("sum weight"));
}

TEST_CASE("deep supervision leaves L in a device slot, bit for bit the value forward_backward returns",
          "[loss][ds]") {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const Shape full{2, 1, 16, 24};
  for (const auto& o : all_variants()) {
    INFO("ds " << ds_name(o.ds) << " target " << static_cast<int>(o.target) << " align_corners " << o.align_corners
               << " dice weight " << o.dice_weight);
    DeepSupervisionLoss<double, Cpu> loss(net_config(o.align_corners), o);
    const auto mask = random_mask<double>(full, rng, 0.35);
    const Logits z = random_logits(full, rng);
    Logits dz_ref, dz;
    const double ref = loss.forward_backward(ctx, z, mask, dz_ref);
    REQUIRE(ref == Approx(naive_ds(z, mask, o).value).epsilon(1e-12));
    const std::array<double, 4> scales = loss.scale_losses();

    Tensor<double> buf = slot_buffer(5, rng);
    const Tensor<double> before = to_host(ctx, buf);
    Tensor<double> slot = buf.samples(3, 1);
    loss.forward_backward_to(ctx, z, mask, dz, slot);
    CHECK(same_bits(buf[3], ref));
    for (int s = 0; s < 4; ++s) {
      REQUIRE(dz[s].empty() == dz_ref[s].empty());
      if (!dz[s].empty()) CHECK(same_tensor_bits(dz[s], dz_ref[s]));
    }
    // The host sum in scale order, from the per-scale values: what the device slot holds.
    double host_sum = 0;
    for (int s = 0; s < 4; ++s)
      if (loss.uses_scale(s)) host_sum += loss.scale_weight(s) * scales[s];
    CHECK(same_bits(buf[3], host_sum));
    Tensor<double> slot0 = buf.samples(0, 1);
    loss.forward_to(ctx, z, mask, slot0);
    CHECK(same_bits(buf[0], ref));
    for (int64_t i : {1, 2, 4}) CHECK(same_bits(buf[i], before[i]));
    // The device path leaves scale_losses() of the last double-returning call alone.
    CHECK(loss.scale_losses() == scales);
    CHECK(same_bits(loss.last_loss(), ref));
    Tensor<double> wide = buf.samples(1, 2);
    REQUIRE_THROWS_WITH(loss.forward_to(ctx, z, mask, wide),
                        Catch::Contains("deep_supervision") && Catch::Contains("[2, 1, 1, 1]"));
  }
}
