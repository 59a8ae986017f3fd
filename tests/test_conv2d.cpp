// conv2d on the CPU: forward against a naive 7-loop reference (all kernel shapes, bias or not,
// odd shapes, strided channel views, forced row banding), backward data/filter/bias against finite
// differences in double and against naive adjoint loops on larger shapes (float 3x3 backward data
// and filter by Winograd F(4x4) too), write modes, shape errors.
#include "support/testing.hpp"

#include <cmath>
#include <sstream>
#include <type_traits>
#include <vector>

#include "srmds/ops/conv2d.hpp"
#include "support/naive_conv.hpp"

using namespace srmds;
using srmds::test::check_gradient;
using srmds::test::contiguous;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
using srmds::test::require_close;
using srmds::test::require_write_modes;
using srmds::test::weighted_sum;
using srmds::test::naive_backward_data;
using srmds::test::naive_backward_filter;
using srmds::test::naive_conv;

namespace {

using srmds::test::Kernel;
const Kernel kKernels[] = {{1, 1}, {1, 3}, {3, 1}, {3, 3}};

struct ConvShape {
  int64_t n, cin, cout, h, w;
};

// Rounding allowance for sums of `terms` products of values in [-1, 1].
template <class T>
double sum_atol(int64_t terms) {
  return std::is_same_v<T, float> ? 1e-6 + 2e-7 * static_cast<double>(terms) : 1e-14 * static_cast<double>(terms + 1);
}
template <class T>
double rtol() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

std::string describe(const ConvShape& c, const Kernel& k) {
  std::ostringstream os;
  os << "N=" << c.n << " Cin=" << c.cin << " Cout=" << c.cout << " H=" << c.h << " W=" << c.w << " kernel " << k.kh
     << "x" << k.kw;
  return os.str();
}

}  // namespace

TEMPLATE_TEST_CASE("conv2d forward matches a naive loop for every kernel shape", "[ops][conv2d]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const ConvShape shapes[] = {{1, 3, 5, 5, 7}, {2, 5, 3, 4, 6}, {3, 1, 2, 1, 9}, {2, 3, 4, 7, 1},
                              {1, 4, 3, 2, 2}, {2, 2, 3, 1, 1}, {1, 16, 8, 33, 20},  // 45 tiles: im2col
                              {1, 7, 9, 3, 64}};
  for (const ConvShape& cs : shapes)
    for (const Kernel& k : kKernels)
      for (bool with_bias : {false, true}) {
        INFO(describe(cs, k) << (with_bias ? " with bias" : " without bias"));
        auto x = random_tensor<T>(Shape{cs.n, cs.cin, cs.h, cs.w}, rng);
        auto w = random_tensor<T>(Shape{cs.cout, cs.cin, k.kh, k.kw}, rng);
        auto b = random_tensor<T>(Shape{cs.cout}, rng);
        auto y = random_tensor<T>(Shape{cs.n, cs.cout, cs.h, cs.w}, rng);  // overwritten
        conv2d_forward(ctx, x, w, with_bias ? &b : nullptr, y);
        const auto ref = naive_conv(x, w, with_bias ? &b : nullptr);
        require_close(y, ref, rtol<T>(), sum_atol<T>(cs.cin * k.kh * k.kw), "y");
      }
}

TEMPLATE_TEST_CASE("conv2d forward reads and writes strided channel views", "[ops][conv2d]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  for (const Kernel& k : kKernels) {
    INFO("kernel " << k.kh << "x" << k.kw);
    // x = channels [2, 5) of a (3, 7, 6, 5) buffer; y = channels [1, 5) of a (3, 6, 6, 5) buffer.
    auto xbuf = random_tensor<T>(Shape{3, 7, 6, 5}, rng);
    auto ybuf = random_tensor<T>(Shape{3, 6, 6, 5}, rng);
    const auto ybuf_before = contiguous(ybuf);
    const Tensor<T> x = xbuf.channels(2, 3);
    Tensor<T> y = ybuf.channels(1, 4);
    auto w = random_tensor<T>(Shape{4, 3, k.kh, k.kw}, rng);
    auto b = random_tensor<T>(Shape{4}, rng);
    conv2d_forward(ctx, x, w, &b, y);
    const auto ref = naive_conv(contiguous(x), w, &b);
    require_close(contiguous(y), ref, rtol<T>(), sum_atol<T>(3 * k.kh * k.kw), "y view");
    for (int64_t n = 0; n < 3; ++n)  // channels outside the view are untouched
      for (int64_t c : {0, 5})
        for (int64_t i = 0; i < 6; ++i)
          for (int64_t j = 0; j < 5; ++j) REQUIRE(ybuf.at(n, c, i, j) == ybuf_before.at(n, c, i, j));
  }
}

TEST_CASE("conv2d row banding gives the same result for any band size", "[ops][conv2d]") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  for (const Kernel& k : kKernels) {
    INFO("kernel " << k.kh << "x" << k.kw);
    auto x = random_tensor<float>(Shape{2, 6, 13, 11}, rng);
    auto w = random_tensor<float>(Shape{5, 6, k.kh, k.kw}, rng);
    auto b = random_tensor<float>(Shape{5}, rng);
    const auto ref = naive_conv(x, w, &b);
    const double atol = sum_atol<float>(6 * k.kh * k.kw);
    for (int64_t tile_bytes : {int64_t(1), int64_t(4000), int64_t(1) << 30}) {
      INFO("tile bytes " << tile_bytes);
      Tensor<float> y(ref.shape());
      cpu::detail::conv2d_banded(x, w.data(), int(k.kh), int(k.kw), b.data(), y, false, tile_bytes, 1);
      require_close(y, ref, 1e-5, atol, "banded y");
      // Accumulate adds conv(x) + b once more.
      cpu::detail::conv2d_banded(x, w.data(), int(k.kh), int(k.kw), b.data(), y, true, tile_bytes, 1);
      Tensor<float> twice(ref.shape());
      for (int64_t i = 0; i < ref.numel(); ++i) twice[i] = 2 * ref[i];
      require_close(y, twice, 1e-5, 2 * atol, "banded y accumulated");

      Tensor<float> dw(w.shape());
      auto dy = random_tensor<float>(ref.shape(), rng);
      cpu::detail::conv2d_filter_banded(x, dy, int(k.kh), int(k.kw), dw.data(), false, tile_bytes, 1);
      require_close(dw, naive_backward_filter(x, dy, k.kh, k.kw), 1e-5, sum_atol<float>(2 * 13 * 11), "banded dw");
    }
  }
}

TEMPLATE_TEST_CASE("conv2d backward data and filter match naive adjoints on larger shapes", "[ops][conv2d]", float,
                   double) {
  using T = TestType;
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const ConvShape shapes[] = {{2, 5, 7, 37, 29}, {1, 3, 4, 1, 17}, {3, 4, 2, 9, 2}};
  for (const ConvShape& cs : shapes)
    for (const Kernel& k : kKernels) {
      INFO(describe(cs, k));
      auto x = random_tensor<T>(Shape{cs.n, cs.cin, cs.h, cs.w}, rng);
      auto dy = random_tensor<T>(Shape{cs.n, cs.cout, cs.h, cs.w}, rng);
      auto w = random_tensor<T>(Shape{cs.cout, cs.cin, k.kh, k.kw}, rng);
      auto dx = random_tensor<T>(x.shape(), rng);
      auto dw = random_tensor<T>(w.shape(), rng);
      conv2d_backward_data(ctx, dy, w, dx, WriteMode::Overwrite);
      conv2d_backward_filter(ctx, x, dy, dw, WriteMode::Overwrite);
      require_close(dx, naive_backward_data(dy, w), rtol<T>(), sum_atol<T>(cs.cout * k.kh * k.kw), "dx");
      require_close(dw, naive_backward_filter(x, dy, k.kh, k.kw), rtol<T>(), sum_atol<T>(cs.n * cs.h * cs.w), "dw");
    }
}

// The float path of 3x3 backward data with dy of >= 16 channels on >= 32 x 32 pixels is Winograd
// F(4x4, 3x3) (the transposed convolution as a forward one): bounded as the forward is in
// test_conv2d_winograd.cpp, relative to sqrt(9 Cout) for values in [-1, 1].
TEST_CASE("conv2d backward data by Winograd F(4x4) in float: both write modes, views, chunked weights",
          "[ops][conv2d]") {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const ConvShape shapes[] = {{2, 5, 16, 33, 35}, {1, 7, 19, 32, 40}, {1, 3, 17, 37, 32}, {1, 4, 16, 32, 75}};
  for (const ConvShape& cs : shapes) {
    INFO(describe(cs, {3, 3}));
    const double tol = 5e-5 * std::sqrt(9.0 * static_cast<double>(cs.cout));
    auto dy = random_tensor<float>(Shape{cs.n, cs.cout, cs.h, cs.w}, rng);
    auto w = random_tensor<float>(Shape{cs.cout, cs.cin, 3, 3}, rng);
    require_write_modes<float>(naive_backward_data(dy, w), tol, tol, rng,
                               [&](Tensor<float>& dx, WriteMode m) { conv2d_backward_data(ctx, dy, w, dx, m); }, "dx");
  }

  // Strided channel views of dy and dx; the channels around dx's view stay as they were.
  auto dybuf = random_tensor<float>(Shape{2, 20, 32, 33}, rng);
  auto dxbuf = random_tensor<float>(Shape{2, 9, 32, 33}, rng);
  const auto before = contiguous(dxbuf);
  const Tensor<float> dy = dybuf.channels(2, 16);
  Tensor<float> dx = dxbuf.channels(3, 4);
  auto w = random_tensor<float>(Shape{16, 4, 3, 3}, rng);
  conv2d_backward_data(ctx, dy, w, dx, WriteMode::Accumulate);
  const auto ref = naive_backward_data(contiguous(dy), w);
  Tensor<float> expected(ref.shape());
  const auto old_view = contiguous(before.channels(3, 4));
  for (int64_t i = 0; i < ref.numel(); ++i) expected[i] = old_view[i] + ref[i];
  require_close(contiguous(dx), expected, 5e-5 * 12, 5e-5 * 12, "dx view accumulated");
  const int64_t plane = 32 * 33;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c : {0, 1, 2, 7, 8})
      for (int64_t i = 0; i < plane; ++i) REQUIRE(dxbuf.sample(n)[c * plane + i] == before.sample(n)[c * plane + i]);

  // Weights of 36 Cout Cin floats above 16 MB: the Winograd kernel sums over chunks of dy's channels.
  // Reference: the same gradient in double (im2col).
  auto dyl = random_tensor<float>(Shape{1, 384, 32, 32}, rng);
  auto wl = random_tensor<float>(Shape{384, 320, 3, 3}, rng);
  auto dxl = random_tensor<float>(Shape{1, 320, 32, 32}, rng);
  Tensor<double> dyd(dyl.shape()), wd(wl.shape()), dxd(dxl.shape());
  for (int64_t i = 0; i < dyl.numel(); ++i) dyd[i] = dyl[i];
  for (int64_t i = 0; i < wl.numel(); ++i) wd[i] = wl[i];
  for (int64_t i = 0; i < dxl.numel(); ++i) dxd[i] = dxl[i];
  conv2d_backward_data(ctx, dyl, wl, dxl, WriteMode::Accumulate);
  conv2d_backward_data(ctx, dyd, wd, dxd, WriteMode::Accumulate);
  const double tol = 5e-5 * std::sqrt(9.0 * 384);
  require_close(dxl, dxd, tol, tol, "dx chunked, accumulated");
}

// Float 3x3 filter gradients with Cin, Cout >= 16 on >= 32 x 32 pixels take Winograd F(4x4): its
// rounding grows with the transformed values (A up to 8, B^T up to 5), ~1e-6 of the sum over all
// pixels of |dy| |x| here; the bound is relative to sqrt(N H W), the size of such a sum of random
// products.
TEST_CASE("conv2d backward filter by Winograd F(4x4) in float matches the naive adjoint", "[ops][conv2d]") {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const ConvShape shapes[] = {{2, 16, 16, 33, 35}, {1, 19, 17, 32, 40}, {3, 16, 20, 37, 32}, {1, 16, 16, 32, 75}};
  for (const ConvShape& cs : shapes) {
    INFO(describe(cs, {3, 3}));
    auto x = random_tensor<float>(Shape{cs.n, cs.cin, cs.h, cs.w}, rng);
    auto dy = random_tensor<float>(Shape{cs.n, cs.cout, cs.h, cs.w}, rng);
    const double tol = 5e-5 * std::sqrt(static_cast<double>(cs.n * cs.h * cs.w));
    require_write_modes<float>(naive_backward_filter(x, dy, 3, 3), tol, tol, rng,
                               [&](Tensor<float>& dw, WriteMode m) { conv2d_backward_filter(ctx, x, dy, dw, m); },
                               "dw");
  }
}

TEST_CASE("conv2d backward works on strided channel views", "[ops][conv2d]") {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  auto xbuf = random_tensor<double>(Shape{2, 6, 5, 4}, rng);
  auto dybuf = random_tensor<double>(Shape{2, 5, 5, 4}, rng);
  auto dxbuf = random_tensor<double>(Shape{2, 7, 5, 4}, rng);
  const auto dxbuf_before = contiguous(dxbuf);
  const Tensor<double> x = xbuf.channels(1, 3), dy = dybuf.channels(2, 2);
  Tensor<double> dx = dxbuf.channels(3, 3);
  auto w = random_tensor<double>(Shape{2, 3, 3, 3}, rng);
  Tensor<double> dw(w.shape()), db(Shape{2});
  conv2d_backward_data(ctx, dy, w, dx, WriteMode::Overwrite);
  conv2d_backward_filter(ctx, x, dy, dw, WriteMode::Overwrite);
  conv2d_backward_bias(ctx, dy, db, WriteMode::Overwrite);
  require_close(contiguous(dx), naive_backward_data(contiguous(dy), w), 1e-12, 1e-13, "dx view");
  require_close(dw, naive_backward_filter(contiguous(x), contiguous(dy), 3, 3), 1e-12, 1e-13, "dw from views");
  for (int64_t o = 0; o < 2; ++o) {
    // A sum of 40 terms in another order errs by at most 2 * 40 * 2^-53 * sum |term|, which is not
    // relative to the sum itself when the terms cancel (a relative 1e-12 failed for 2 of 1,000 seeds).
    double s = 0, abs_sum = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < 20; ++i) {
        s += dy.sample(n)[o * 20 + i];
        abs_sum += std::abs(dy.sample(n)[o * 20 + i]);
      }
    REQUIRE(std::abs(db[o] - s) <= 80 * 0x1p-53 * abs_sum);
  }
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c : {0, 1, 2, 6})
      for (int64_t i = 0; i < 20; ++i) REQUIRE(dxbuf.sample(n)[c * 20 + i] == dxbuf_before.sample(n)[c * 20 + i]);
}

TEST_CASE("conv2d backward data, filter and bias match finite differences", "[ops][conv2d][grad]") {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const ConvShape shapes[] = {{2, 3, 5, 4, 5}, {1, 2, 3, 1, 6}, {2, 3, 2, 5, 2}};
  for (const ConvShape& cs : shapes)
    for (const Kernel& k : kKernels) {
      INFO(describe(cs, k));
      auto x = random_tensor<double>(Shape{cs.n, cs.cin, cs.h, cs.w}, rng);
      auto w = random_tensor<double>(Shape{cs.cout, cs.cin, k.kh, k.kw}, rng);
      auto b = random_tensor<double>(Shape{cs.cout}, rng);
      const auto r = random_tensor<double>(Shape{cs.n, cs.cout, cs.h, cs.w}, rng);  // loss = sum(r * y)
      auto loss = [&] {
        Tensor<double> y(r.shape());
        conv2d_forward(ctx, x, w, &b, y);
        return weighted_sum(y, r);
      };
      // d loss / dy = r.
      auto dx = random_tensor<double>(x.shape(), rng);
      auto dw = random_tensor<double>(w.shape(), rng);
      auto db = random_tensor<double>(b.shape(), rng);
      conv2d_backward_data(ctx, r, w, dx, WriteMode::Overwrite);
      conv2d_backward_filter(ctx, x, r, dw, WriteMode::Overwrite);
      conv2d_backward_bias(ctx, r, db, WriteMode::Overwrite);
      check_gradient(x, dx, loss, "dx", rng);
      check_gradient(w, dw, loss, "dw", rng);
      check_gradient(b, db, loss, "db", rng);

      // Accumulate adds the same gradient onto what is there.
      auto dx2 = random_tensor<double>(x.shape(), rng), dw2 = random_tensor<double>(w.shape(), rng),
           db2 = random_tensor<double>(b.shape(), rng);
      Tensor<double> ex(x.shape()), ew(w.shape()), eb(b.shape());
      for (int64_t i = 0; i < dx.numel(); ++i) ex[i] = dx2[i] + dx[i];
      for (int64_t i = 0; i < dw.numel(); ++i) ew[i] = dw2[i] + dw[i];
      for (int64_t i = 0; i < db.numel(); ++i) eb[i] = db2[i] + db[i];
      conv2d_backward_data(ctx, r, w, dx2, WriteMode::Accumulate);
      conv2d_backward_filter(ctx, x, r, dw2, WriteMode::Accumulate);
      conv2d_backward_bias(ctx, r, db2, WriteMode::Accumulate);
      require_close(dx2, ex, 1e-12, 1e-13, "dx accumulated");
      require_close(dw2, ew, 1e-12, 1e-13, "dw accumulated");
      require_close(db2, eb, 1e-12, 1e-13, "db accumulated");
    }
}

TEST_CASE("conv2d bias gradient sums long runs accurately in float", "[ops][conv2d]") {
  Context<Cpu> ctx;
  Tensor<float> dy(Shape{3, 2, 200, 300}), db(Shape{2});
  for (int64_t i = 0; i < dy.numel(); ++i) dy[i] = 0.1f;
  conv2d_backward_bias(ctx, dy, db, WriteMode::Overwrite);
  const double expected = 3 * 200 * 300 * static_cast<double>(0.1f);
  REQUIRE(db[0] == Approx(expected).epsilon(1e-6));
  REQUIRE(db[1] == Approx(expected).epsilon(1e-6));
}

TEST_CASE("conv2d ops reject bad shapes naming the op and both shapes", "[ops][conv2d][errors]") {
  Context<Cpu> ctx;
  Tensor<float> x(Shape{2, 3, 5, 6}), w(Shape{4, 3, 3, 3}), y(Shape{2, 4, 5, 6});
  Tensor<float> w_cin(Shape{4, 2, 3, 3}), w_5x5(Shape{4, 3, 5, 5}), y_hw(Shape{2, 4, 5, 7}), b_bad(Shape{3});
  Tensor<float> x3(Shape{3, 5, 6});
  const Tensor<float>* no_bias = nullptr;
  using Catch::Contains;
  REQUIRE_THROWS_AS(conv2d_forward(ctx, x, w_cin, no_bias, y), Error);
  REQUIRE_THROWS_WITH(conv2d_forward(ctx, x, w_cin, no_bias, y),
                      Contains("conv2d_forward") && Contains("[2, 3, 5, 6]") && Contains("[4, 2, 3, 3]"));
  REQUIRE_THROWS_WITH(conv2d_forward(ctx, x, w, no_bias, y_hw),
                      Contains("conv2d_forward") && Contains("[2, 4, 5, 7]") && Contains("[2, 4, 5, 6]"));
  REQUIRE_THROWS_WITH(conv2d_forward(ctx, x, w_5x5, no_bias, y), Contains("conv2d_forward") && Contains("[4, 3, 5, 5]"));
  REQUIRE_THROWS_WITH(conv2d_forward(ctx, x, w, &b_bad, y), Contains("conv2d_forward") && Contains("[3]") &&
                                                                Contains("[4]"));
  REQUIRE_THROWS_WITH(conv2d_forward(ctx, x3, w, no_bias, y), Contains("conv2d_forward") && Contains("[3, 5, 6]"));
  Tensor<float> dx(x.shape()), dw(w.shape()), db(Shape{4});
  REQUIRE_THROWS_WITH(conv2d_backward_data(ctx, y_hw, w, dx, WriteMode::Overwrite),
                      Contains("conv2d_backward_data") && Contains("[2, 4, 5, 7]") && Contains("[2, 3, 5, 6]"));
  REQUIRE_THROWS_WITH(conv2d_backward_data(ctx, y, w_cin, dx, WriteMode::Overwrite),
                      Contains("conv2d_backward_data") && Contains("[4, 2, 3, 3]") && Contains("[2, 3, 5, 6]"));
  REQUIRE_THROWS_WITH(conv2d_backward_filter(ctx, x, y_hw, dw, WriteMode::Overwrite),
                      Contains("conv2d_backward_filter") && Contains("[2, 4, 5, 7]") && Contains("[2, 3, 5, 6]"));
  REQUIRE_THROWS_WITH(conv2d_backward_filter(ctx, x, y, w_cin, WriteMode::Accumulate),
                      Contains("conv2d_backward_filter") && Contains("[4, 2, 3, 3]") && Contains("[2, 3, 5, 6]"));
  REQUIRE_THROWS_WITH(conv2d_backward_bias(ctx, y, b_bad, WriteMode::Overwrite),
                      Contains("conv2d_backward_bias") && Contains("[3]") && Contains("[4]"));
}
