// conv2d on the CPU: forward against a naive 7-loop reference (all kernel shapes, bias or not,
// odd shapes, strided channel views, forced row banding), backward data/filter/bias against finite
// differences in double and against naive adjoint loops on larger shapes, write modes, shape errors.
#include "support/testing.hpp"

#include <sstream>
#include <type_traits>
#include <vector>

#include "srmds/ops/conv2d.hpp"

using namespace srmds;
using srmds::test::check_gradient;
using srmds::test::contiguous;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
using srmds::test::require_close;
using srmds::test::weighted_sum;

namespace {

struct Kernel {
  int64_t kh, kw;
};
const Kernel kKernels[] = {{1, 1}, {1, 3}, {3, 1}, {3, 3}};

struct ConvShape {
  int64_t n, cin, cout, h, w;
};

// y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x[n, c, i + p - kh/2, j + q - kw/2], in double.
template <class T>
Tensor<T> naive_conv(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>* b) {
  const Shape& s = x.shape();
  const int64_t kh = w.shape()[2], kw = w.shape()[3], cout = w.shape()[0];
  Tensor<T> y(Shape{s.n(), cout, s.h(), s.w()});
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t i = 0; i < s.h(); ++i)
        for (int64_t j = 0; j < s.w(); ++j) {
          double acc = b ? static_cast<double>((*b)[o]) : 0.0;
          for (int64_t c = 0; c < s.c(); ++c)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t ii = i + p - kh / 2, jj = j + q - kw / 2;
                if (ii < 0 || ii >= s.h() || jj < 0 || jj >= s.w()) continue;
                acc += static_cast<double>(w.at(o, c, p, q)) * static_cast<double>(x.at(n, c, ii, jj));
              }
          y.at(n, o, i, j) = static_cast<T>(acc);
        }
  return y;
}

// The adjoints of naive_conv: dx = sum w * dy shifted back, dw = sum dy * x shifted.
template <class T>
Tensor<T> naive_backward_data(const Tensor<T>& dy, const Tensor<T>& w) {
  const Shape& s = dy.shape();
  const int64_t kh = w.shape()[2], kw = w.shape()[3], cin = w.shape()[1];
  std::vector<double> acc(static_cast<size_t>(s.n() * cin * s.h() * s.w()), 0.0);
  auto at = [&](int64_t n, int64_t c, int64_t i, int64_t j) -> double& {
    return acc[static_cast<size_t>(((n * cin + c) * s.h() + i) * s.w() + j)];
  };
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t o = 0; o < s.c(); ++o)
      for (int64_t i = 0; i < s.h(); ++i)
        for (int64_t j = 0; j < s.w(); ++j)
          for (int64_t c = 0; c < cin; ++c)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t ii = i + p - kh / 2, jj = j + q - kw / 2;
                if (ii < 0 || ii >= s.h() || jj < 0 || jj >= s.w()) continue;
                at(n, c, ii, jj) += static_cast<double>(w.at(o, c, p, q)) * static_cast<double>(dy.at(n, o, i, j));
              }
  Tensor<T> dx(Shape{s.n(), cin, s.h(), s.w()});
  for (int64_t k = 0; k < dx.numel(); ++k) dx[k] = static_cast<T>(acc[static_cast<size_t>(k)]);
  return dx;
}

template <class T>
Tensor<T> naive_backward_filter(const Tensor<T>& x, const Tensor<T>& dy, int64_t kh, int64_t kw) {
  const Shape& s = x.shape();
  Tensor<T> dw(Shape{dy.shape().c(), s.c(), kh, kw});
  for (int64_t o = 0; o < dy.shape().c(); ++o)
    for (int64_t c = 0; c < s.c(); ++c)
      for (int64_t p = 0; p < kh; ++p)
        for (int64_t q = 0; q < kw; ++q) {
          double acc = 0;
          for (int64_t n = 0; n < s.n(); ++n)
            for (int64_t i = 0; i < s.h(); ++i)
              for (int64_t j = 0; j < s.w(); ++j) {
                const int64_t ii = i + p - kh / 2, jj = j + q - kw / 2;
                if (ii < 0 || ii >= s.h() || jj < 0 || jj >= s.w()) continue;
                acc += static_cast<double>(dy.at(n, o, i, j)) * static_cast<double>(x.at(n, c, ii, jj));
              }
          dw.at(o, c, p, q) = static_cast<T>(acc);
        }
  return dw;
}

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
                              {1, 4, 3, 2, 2}, {2, 2, 3, 1, 1}, {2, 16, 8, 33, 20}, {1, 7, 9, 3, 64}};
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
    double s = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < 20; ++i) s += dy.sample(n)[o * 20 + i];
    REQUIRE(db[o] == Approx(s).epsilon(1e-12));
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
