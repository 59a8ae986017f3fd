// Bilinear resizing: known values, a naive formula for several sizes (both align_corners
// settings), strided channel views, backward against finite differences and write modes.
#include <algorithm>
#include <cmath>
#include <vector>

#include "srmds/ops/math/bilinear.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "srmds/ops/upsample.hpp"
#include "support/testing.hpp"

using namespace srmds;
using srmds::test::check_gradient;
using srmds::test::contiguous;
using srmds::test::fresh_seed;

// Float tolerance: the source coordinate d (in - 1) / (out - 1) is computed in float (as PyTorch
// does), so lambda carries ~1e-7 relative error times coordinates up to ~50, on values in [-1, 1].
constexpr double kFloatTol = 2e-5;
using srmds::test::random_tensor;
using srmds::test::require_close;
using srmds::test::weighted_sum;

namespace {

// Source coordinate along one axis, written out independently of bilinear_axis().
double source_coord(int64_t d, int64_t in, int64_t out, bool align_corners) {
  if (align_corners)
    return out > 1 ? static_cast<double>(d) * static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0;
  const double s = (static_cast<double>(d) + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5;
  return s < 0 ? 0 : s;
}

// Naive bilinear interpolation in double: reads x at the four neighbours of the source point.
template <class T>
Tensor<double> naive_resize(const Tensor<T>& x, int64_t oh, int64_t ow, bool ac) {
  const Shape& s = x.shape();
  Tensor<double> y(Shape{s.n(), s.c(), oh, ow});
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t c = 0; c < s.c(); ++c)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          const double sy = source_coord(i, s.h(), oh, ac), sx = source_coord(j, s.w(), ow, ac);
          const int64_t y0 = static_cast<int64_t>(std::floor(sy)), x0 = static_cast<int64_t>(std::floor(sx));
          const int64_t y1 = std::min(y0 + 1, s.h() - 1), x1 = std::min(x0 + 1, s.w() - 1);
          const double ly = sy - static_cast<double>(y0), lx = sx - static_cast<double>(x0);
          y.at(n, c, i, j) = (1 - ly) * ((1 - lx) * x.at(n, c, y0, x0) + lx * x.at(n, c, y0, x1)) +
                             ly * ((1 - lx) * x.at(n, c, y1, x0) + lx * x.at(n, c, y1, x1));
        }
  return y;
}

struct Case {
  Shape in;
  int64_t oh, ow;
};
const std::vector<Case> kCases = {{Shape{3, 5, 3, 4}, 6, 8},       // x2, as in the network
                                  {Shape{2, 3, 5, 7}, 9, 4},       // up in H, down in W
                                  {Shape{1, 2, 1, 1}, 3, 5},       // from a single pixel
                                  {Shape{2, 1, 4, 3}, 4, 3},       // identity size
                                  {Shape{2, 3, 6, 5}, 1, 2},       // down to a single row
                                  {Shape{1, 7, 2, 9}, 7, 20},      // odd factors
                                  {Shape{2, 9, 24, 20}, 48, 40}};  // large enough to run in parallel

}  // namespace

TEST_CASE("upsample of [[1,2],[3,4]] to 4x4 matches PyTorch's values", "[ops][upsample]") {
  Context<Cpu> ctx;
  Tensor<float> x(Shape{1, 1, 2, 2}), y(Shape{1, 1, 4, 4});
  for (int i = 0; i < 4; ++i) x[i] = static_cast<float>(i + 1);
  upsample_bilinear_forward(ctx, x, y, true);
  const float ac_row0[4] = {1.0f, 4.0f / 3.0f, 5.0f / 3.0f, 2.0f};
  for (int j = 0; j < 4; ++j) {
    REQUIRE(y[j] == Approx(ac_row0[j]).epsilon(1e-6));
    REQUIRE(y[12 + j] == Approx(ac_row0[j] + 2.0f).epsilon(1e-6));  // last row: 3 .. 4
  }
  REQUIRE(y[0 * 4 + 1] == Approx(1.3333f).margin(1e-4));
  REQUIRE(y[0 * 4 + 2] == Approx(1.6667f).margin(1e-4));
  upsample_bilinear_forward(ctx, x, y, false);
  const float hp_row0[4] = {1.0f, 1.25f, 1.75f, 2.0f};
  const float hp_row1[4] = {1.5f, 1.75f, 2.25f, 2.5f};
  for (int j = 0; j < 4; ++j) {
    REQUIRE(y[j] == Approx(hp_row0[j]).epsilon(1e-6));
    REQUIRE(y[4 + j] == Approx(hp_row1[j]).epsilon(1e-6));
  }
}

TEST_CASE("bilinear_axis gives PyTorch's taps", "[ops][upsample]") {
  // align_corners: 2 -> 4, dst 1: s = 1/3.
  auto t = bilinear_axis<double>(1, 2, 4, true);
  REQUIRE(t.i0 == 0);
  REQUIRE(t.i1 == 1);
  REQUIRE(t.lambda == Approx(1.0 / 3.0).epsilon(1e-15));
  // Last output lands exactly on the last input; i1 is clamped.
  t = bilinear_axis<double>(7, 4, 8, true);
  REQUIRE(t.i0 == 3);
  REQUIRE(t.i1 == 3);
  REQUIRE(t.lambda == Approx(0.0).margin(1e-15));
  // Half-pixel: 2 -> 4, dst 0: s = max(0.5 * 0.5 - 0.5, 0) = 0; dst 3: s = 1.25 -> i0 1, i1 1.
  t = bilinear_axis<double>(0, 2, 4, false);
  REQUIRE((t.i0 == 0 && t.i1 == 1 && t.lambda == 0.0));
  t = bilinear_axis<double>(3, 2, 4, false);
  REQUIRE((t.i0 == 1 && t.i1 == 1));
  // out == 1 with align_corners samples index 0.
  t = bilinear_axis<double>(0, 5, 1, true);
  REQUIRE((t.i0 == 0 && t.i1 == 1 && t.lambda == 0.0));
}

TEMPLATE_TEST_CASE("upsample forward matches the naive formula for several sizes", "[ops][upsample]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? kFloatTol : 1e-13;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Case& k : kCases) {
    for (bool ac : {true, false}) {
      INFO("in " << k.in << " -> " << k.oh << "x" << k.ow << " align_corners " << ac);
      auto x = random_tensor<T>(k.in, rng);
      Tensor<T> y(Shape{k.in.n(), k.in.c(), k.oh, k.ow});
      upsample_bilinear_forward(ctx, x, y, ac);
      require_close(y, naive_resize(x, k.oh, k.ow, ac), tol, tol, "y");
    }
  }
}

TEMPLATE_TEST_CASE("upsample reads a channel view and writes into a concat buffer view", "[ops][upsample]", float,
                   double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? kFloatTol : 1e-13;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  // Decoder input (N, Cskip + Cup, H, W): upsampled channels go to [Cskip, Cskip + Cup).
  const int64_t n = 3, cskip = 4, cup = 5;
  auto src = random_tensor<T>(Shape{n, cup + 2, 3, 5}, rng);
  auto xv = src.channels(1, cup);
  auto cat = random_tensor<T>(Shape{n, cskip + cup, 6, 10}, rng);
  const Tensor<T> before = contiguous(cat);
  auto yv = cat.channels(cskip, cup);
  for (bool ac : {true, false}) {
    upsample_bilinear_forward(ctx, xv, yv, ac);
    require_close(contiguous(yv), naive_resize(contiguous(xv), 6, 10, ac), tol, tol, "y view");
    const auto skip = contiguous(cat.channels(0, cskip)), skip0 = contiguous(before.channels(0, cskip));
    for (int64_t i = 0; i < skip.numel(); ++i) REQUIRE(skip[i] == skip0[i]);
  }
}

TEST_CASE("upsample backward matches finite differences in both write modes", "[ops][upsample][grad]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (const Case& k : kCases) {
    for (bool ac : {true, false}) {
      INFO("in " << k.in << " -> " << k.oh << "x" << k.ow << " align_corners " << ac);
      const Shape so{k.in.n(), k.in.c(), k.oh, k.ow};
      auto x = random_tensor<double>(k.in, rng);
      auto w = random_tensor<double>(so, rng);
      Tensor<double> dx(k.in);
      upsample_bilinear_backward(ctx, w, dx, ac, WriteMode::Overwrite);
      check_gradient(
          x, dx,
          [&] {
            Tensor<double> y(so);
            upsample_bilinear_forward(ctx, x, y, ac);
            return weighted_sum(y, w);
          },
          "upsample dx", rng, 64);

      auto base = random_tensor<double>(k.in, rng);
      Tensor<double> acc(k.in);
      copy(ctx, base, acc);
      upsample_bilinear_backward(ctx, w, acc, ac, WriteMode::Accumulate);
      for (int64_t i = 0; i < acc.numel(); ++i) REQUIRE(acc[i] == Approx(base[i] + dx[i]).epsilon(1e-13).margin(1e-13));
    }
  }
}

TEMPLATE_TEST_CASE("upsample backward on strided views matches the contiguous one", "[ops][upsample][grad]", float,
                   double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  auto dybig = random_tensor<T>(Shape{2, 7, 8, 6}, rng);
  auto dyv = dybig.channels(4, 3);  // gradient of the upsampled half of a concat buffer
  auto dxbig = random_tensor<T>(Shape{2, 5, 4, 3}, rng);
  auto dxv = dxbig.channels(1, 3);
  Tensor<T> dx(Shape{2, 3, 4, 3});
  upsample_bilinear_backward(ctx, contiguous(dyv), dx, true, WriteMode::Overwrite);
  upsample_bilinear_backward(ctx, dyv, dxv, true, WriteMode::Overwrite);
  require_close(contiguous(dxv), dx, tol, tol, "dx view");
}

TEST_CASE("upsample rejects mismatched N or C naming the op and both shapes", "[ops][upsample][errors]") {
  Context<Cpu> ctx;
  Tensor<float> x(Shape{2, 3, 4, 4}), y(Shape{2, 4, 8, 8});
  REQUIRE_THROWS_WITH(upsample_bilinear_forward(ctx, x, y, true), Catch::Contains("upsample_bilinear_forward") &&
                                                                      Catch::Contains("[2, 3, 4, 4]") &&
                                                                      Catch::Contains("[2, 4, 8, 8]"));
  REQUIRE_THROWS_WITH(upsample_bilinear_backward(ctx, y, x, true, WriteMode::Overwrite),
                      Catch::Contains("upsample_bilinear_backward"));
}
