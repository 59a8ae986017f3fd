// CBAM: forward and saved tensors against a naive loop written from SPEC §2 (images smaller than
// the 7x7 kernel, strided views, in place), backward against finite differences in double for x
// and all four parameters, write modes, and rejected shapes.
#include <cmath>
#include <vector>

#include "srmds/ops/cbam.hpp"
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

template <class T>
struct CbamParams {
  Tensor<T> w1, w2, ws, bs;
};

template <class T>
CbamParams<T> random_params(int64_t c, int64_t hd, Rng& rng) {
  return {random_tensor<T>(Shape{hd, c, 1, 1}, rng), random_tensor<T>(Shape{c, hd, 1, 1}, rng),
          random_tensor<T>(Shape{1, 2, 7, 7}, rng, -0.5, 0.5), random_tensor<T>(Shape{1}, rng, -0.5, 0.5)};
}

double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

// Naive CBAM in double; also returns the channel gate a and the spatial gate m.
template <class T>
Tensor<double> naive_cbam(const Tensor<T>& x, const CbamParams<T>& p, Tensor<double>& a, Tensor<double>& m,
                          Tensor<double>& pooled) {
  const Shape& s = x.shape();
  const int64_t C = s.c(), H = s.h(), W = s.w(), hd = p.w1.shape()[0];
  a = Tensor<double>(Shape{s.n(), C});
  m = Tensor<double>(Shape{s.n(), 1, H, W});
  pooled = Tensor<double>(Shape{s.n(), 2, H, W});
  Tensor<double> y(s);
  for (int64_t n = 0; n < s.n(); ++n) {
    std::vector<double> avg(static_cast<size_t>(C)), mx(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      double acc = 0, best = -1e300;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          acc += x.at(n, c, h, w);
          best = std::max(best, static_cast<double>(x.at(n, c, h, w)));
        }
      avg[static_cast<size_t>(c)] = acc / static_cast<double>(H * W);
      mx[static_cast<size_t>(c)] = best;
    }
    auto mlp = [&](const std::vector<double>& v) {
      std::vector<double> hid(static_cast<size_t>(hd)), out(static_cast<size_t>(C));
      for (int64_t j = 0; j < hd; ++j) {
        double z = 0;
        for (int64_t c = 0; c < C; ++c) z += p.w1[j * C + c] * v[static_cast<size_t>(c)];
        hid[static_cast<size_t>(j)] = std::max(z, 0.0);
      }
      for (int64_t c = 0; c < C; ++c) {
        double z = 0;
        for (int64_t j = 0; j < hd; ++j) z += p.w2[c * hd + j] * hid[static_cast<size_t>(j)];
        out[static_cast<size_t>(c)] = z;
      }
      return out;
    };
    const auto za = mlp(avg), zm = mlp(mx);
    for (int64_t c = 0; c < C; ++c) a[n * C + c] = sigmoid(za[static_cast<size_t>(c)] + zm[static_cast<size_t>(c)]);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) {
        double sum = 0, best = -1e300;
        for (int64_t c = 0; c < C; ++c) {
          const double v = x.at(n, c, h, w) * a[n * C + c];
          sum += v;
          best = std::max(best, v);
        }
        pooled.at(n, 0, h, w) = sum / static_cast<double>(C);
        pooled.at(n, 1, h, w) = best;
      }
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) {
        double z = p.bs[0];
        for (int64_t k = 0; k < 2; ++k)
          for (int64_t dh = -3; dh <= 3; ++dh)
            for (int64_t dw = -3; dw <= 3; ++dw) {
              const int64_t hh = h + dh, ww = w + dw;
              if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
              z += p.ws[(k * 7 + dh + 3) * 7 + dw + 3] * pooled.at(n, k, hh, ww);
            }
        m.at(n, 0, h, w) = sigmoid(z);
        for (int64_t c = 0; c < C; ++c) y.at(n, c, h, w) = x.at(n, c, h, w) * a[n * C + c] * m.at(n, 0, h, w);
      }
  }
  return y;
}

struct Case {
  Shape x;
  int64_t hd;
};
const std::vector<Case> kCases = {{Shape{2, 5, 6, 7}, 4},
                                  {Shape{1, 32, 9, 8}, 2},
                                  {Shape{3, 3, 2, 3}, 4},
                                  {Shape{2, 4, 1, 1}, 4},
                                  {Shape{2, 9, 40, 36}, 4}};  // the last runs in parallel

}  // namespace

TEMPLATE_TEST_CASE("cbam forward and saved tensors match a naive loop", "[ops][cbam]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
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
      auto saved = cbam_saved_for<T>(ctx, s, k.hd);
      cbam_forward(ctx, x, p.w1, p.w2, p.ws, p.bs, y, saved);
      Tensor<double> ar, mr, pr;
      const auto yr = naive_cbam(contiguous(x), p, ar, mr, pr);
      require_close(contiguous(y), yr, tol, tol, "y");
      require_close(saved.scale, ar, tol, tol, "saved.scale");
      require_close(saved.gate, mr, tol, tol, "saved.gate");
      require_close(saved.pooled, pr, tol, tol, "saved.pooled");
      // The saved argmax positions hold the saved maxima.
      const Tensor<T> xc = contiguous(x);
      for (int64_t n = 0; n < s.n(); ++n)
        for (int64_t c = 0; c < s.c(); ++c) {
          const int32_t at = saved.max_index[n * s.c() + c];
          REQUIRE(at >= 0);
          REQUIRE(at < s.h() * s.w());
          REQUIRE(xc.sample(n)[c * s.h() * s.w() + at] == saved.max[n * s.c() + c]);
        }

      Tensor<T> z = contiguous(x);
      auto saved2 = cbam_saved_for<T>(ctx, s, k.hd);
      cbam_forward(ctx, z, p.w1, p.w2, p.ws, p.bs, z, saved2);
      require_close(z, contiguous(y), 0.0, 0.0, "y in place");
    }
  }
}

TEST_CASE("cbam backward matches finite differences for x, fc1, fc2 and the spatial conv", "[ops][cbam][grad]") {
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
      auto sv = cbam_saved_for<double>(ctx, s, k.hd);
      cbam_forward(ctx, x, p.w1, p.w2, p.ws, p.bs, yy, sv);
      return weighted_sum(yy, w);
    };
    Tensor<double> y(s), dx(s), dw1(p.w1.shape()), dw2(p.w2.shape()), dws(p.ws.shape()), dbs(p.bs.shape());
    auto saved = cbam_saved_for<double>(ctx, s, k.hd);
    cbam_forward(ctx, x, p.w1, p.w2, p.ws, p.bs, y, saved);
    cbam_backward(ctx, x, w, p.w1, p.w2, p.ws, p.bs, saved, dx, WriteMode::Overwrite, dw1, dw2, dws, dbs,
                  WriteMode::Overwrite);
    // Max pooling and ReLU have kinks: an entry passes on a one-sided difference if a max or a
    // hidden unit switches within eps (check_gradient's kink fallback); a wrong gradient fails all three.
    // A one-sided difference carries an O(eps f'') truncation error (seen up to 3e-5 relative with
    // eps 1e-5 on the largest case), hence 1e-4 for the fallback; central differences keep 1e-6.
    const int pts = 48;
    const double eps = 1e-5, kink = 1e-4;
    check_gradient_report(x, dx, loss, "cbam dx " + std::to_string(s.numel()), rng, pts, eps, 1e-6, 1e-8, kink);
    check_gradient_report(p.w1, dw1, loss, "cbam fc1.weight", rng, pts, eps, 1e-6, 1e-8, kink);
    check_gradient_report(p.w2, dw2, loss, "cbam fc2.weight", rng, pts, eps, 1e-6, 1e-8, kink);
    check_gradient_report(p.ws, dws, loss, "cbam spatial.weight", rng, pts, eps, 1e-6, 1e-8, kink);
    check_gradient_report(p.bs, dbs, loss, "cbam spatial.bias", rng, pts, eps, 1e-6, 1e-8, kink);

    Tensor<double> gx(s), g1(p.w1.shape()), g2(p.w2.shape()), gs(p.ws.shape()), gb(p.bs.shape());
    for (auto* t : {&gx, &g1, &g2, &gs, &gb}) fill(ctx, *t, 0.25);
    cbam_backward(ctx, x, w, p.w1, p.w2, p.ws, p.bs, saved, gx, WriteMode::Accumulate, g1, g2, gs, gb,
                  WriteMode::Accumulate);
    require_accumulated({{&gx, &dx}, {&g1, &dw1}, {&g2, &dw2}, {&gs, &dws}, {&gb, &dbs}}, 0.25);
  }
}

TEMPLATE_TEST_CASE("cbam backward on strided views matches the contiguous one", "[ops][cbam][grad]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-13;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{3, 5, 4, 3};
  auto p = random_params<T>(5, 4, rng);
  ChannelViews<T> v(s, rng);
  auto &xv = v.x, &gv = v.g, &dv = v.d;
  auto saved = cbam_saved_for<T>(ctx, s, 4);
  Tensor<T> y(s);
  cbam_forward(ctx, xv, p.w1, p.w2, p.ws, p.bs, y, saved);
  Tensor<T> dx(s), d1(p.w1.shape()), d2(p.w2.shape()), ds(p.ws.shape()), db(p.bs.shape());
  cbam_backward(ctx, contiguous(xv), contiguous(gv), p.w1, p.w2, p.ws, p.bs, saved, dx, WriteMode::Overwrite, d1, d2,
                ds, db, WriteMode::Overwrite);
  Tensor<T> e1(p.w1.shape()), e2(p.w2.shape()), es(p.ws.shape()), eb(p.bs.shape());
  cbam_backward(ctx, xv, gv, p.w1, p.w2, p.ws, p.bs, saved, dv, WriteMode::Overwrite, e1, e2, es, eb,
                WriteMode::Overwrite);
  require_close(contiguous(dv), dx, tol, tol, "dx view");
  require_close(e1, d1, tol, tol, "dfc1 view");
  require_close(es, ds, tol, tol, "dspatial view");
}

TEST_CASE("cbam rejects inconsistent weights naming the op and the tensor", "[ops][cbam][errors]") {
  Context<Cpu> ctx;
  const Shape s{2, 8, 4, 4};
  Tensor<float> x(s), y(s), w1(Shape{4, 8, 1, 1}), w2(Shape{8, 4, 1, 1}), ws(Shape{1, 2, 7, 7}), bs(Shape{1});
  auto saved = cbam_saved_for<float>(ctx, s, 4);
  Tensor<float> ws_bad(Shape{1, 2, 3, 3});
  REQUIRE_THROWS_WITH(cbam_forward(ctx, x, w1, w2, ws_bad, bs, y, saved),
                      Catch::Contains("cbam_forward") && Catch::Contains("spatial.weight") &&
                          Catch::Contains("[1, 2, 3, 3]") && Catch::Contains("[1, 2, 7, 7]"));
  Tensor<float> w2_bad(Shape{8, 3, 1, 1});
  REQUIRE_THROWS_WITH(cbam_forward(ctx, x, w1, w2_bad, ws, bs, y, saved),
                      Catch::Contains("cbam_forward") && Catch::Contains("fc2.weight"));
  auto saved_bad = cbam_saved_for<float>(ctx, Shape{2, 8, 4, 5}, 4);
  REQUIRE_THROWS_WITH(cbam_forward(ctx, x, w1, w2, ws, bs, y, saved_bad),
                      Catch::Contains("cbam_forward") && Catch::Contains("saved.pooled"));
}
