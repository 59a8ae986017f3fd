// ops/conv2d_branches.hpp on the CPU: every branch set an SRFV block can have (3x3, 1x3, 3x1, 1x1 and
// subsets, with or without the 3x3 that alone reaches the transform's corner positions) against the
// naive loops of support/naive_conv.hpp, forward, backward data (summed over the branches, both write
// modes) and filter (both write modes); in float on shapes whose forward and filter gradient take the
// shared Winograd F(4x4) pass (the test checks that they do: odd sizes, widths of more than 64 for the
// vectorised row split) and on shapes that do not, in double always per branch; strided channel views;
// bad shapes.
#include "support/naive_conv.hpp"
#include "support/testing.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "srmds/ops/conv2d_branches.hpp"

using namespace srmds;
using Catch::Matchers::Contains;
using srmds::test::contiguous;
using srmds::test::fresh_seed;
using srmds::test::naive_backward_data;
using srmds::test::naive_backward_filter;
using srmds::test::naive_conv;
using srmds::test::random_tensor;
using srmds::test::require_close;
using srmds::test::require_write_modes;

namespace {

using srmds::test::Kernel;

struct Case {
  int64_t n, cin, cout, h, w;
  bool winograd;  // whether float takes the shared Winograd pass
};

const std::vector<std::vector<Kernel>> kBranchSets = {
    {{3, 3}, {1, 3}, {3, 1}, {1, 1}}, {{1, 3}, {3, 1}, {1, 1}}, {{1, 1}, {1, 3}}, {{3, 1}}, {{3, 3}}};

std::string describe(const Case& c, const std::vector<Kernel>& ks) {
  std::string s = "N=" + std::to_string(c.n) + " Cin=" + std::to_string(c.cin) + " Cout=" + std::to_string(c.cout) +
                  " " + std::to_string(c.h) + "x" + std::to_string(c.w) + " kernels";
  for (const Kernel& k : ks) s += " " + std::to_string(k.kh) + "x" + std::to_string(k.kw);
  return s;
}

template <class T>
std::vector<const Tensor<T>*> const_ptrs(const std::vector<Tensor<T>>& ts) {
  std::vector<const Tensor<T>*> p;
  for (const auto& t : ts) p.push_back(&t);
  return p;
}
template <class T>
std::vector<Tensor<T>*> ptrs(std::vector<Tensor<T>>& ts) {
  std::vector<Tensor<T>*> p;
  for (auto& t : ts) p.push_back(&t);
  return p;
}

// Float Winograd F(4x4) rounds up to ~1e-5 of the scale of its sums (measured here: below 5e-6): sqrt(9 K)
// for sums of K products of values in [-1, 1] per output, sqrt(N H W) per filter gradient.
template <class T>
double tol(double terms) {
  return (std::is_same_v<T, float> ? 1e-5 : 1e-12) * std::sqrt(terms);
}

template <class T>
void check_case(const Case& c, const std::vector<Kernel>& ks, Rng& rng) {
  INFO(describe(c, ks));
  Context<Cpu> ctx;
  const Shape xs{c.n, c.cin, c.h, c.w}, ys{c.n, c.cout, c.h, c.w};
  auto x = random_tensor<T>(xs, rng);
  std::vector<Tensor<T>> w, y, dy, dw;
  std::vector<Shape> kshapes;
  for (const Kernel& k : ks) {
    w.push_back(random_tensor<T>(Shape{c.cout, c.cin, k.kh, k.kw}, rng));
    kshapes.push_back(w.back().shape());
    y.push_back(random_tensor<T>(ys, rng));
    dy.push_back(random_tensor<T>(ys, rng));
    dw.push_back(random_tensor<T>(w.back().shape(), rng));
  }
  REQUIRE(cpu::conv2d_branches_take_winograd<T>(xs, kshapes) == (c.winograd && std::is_same_v<T, float>));

  conv2d_branches_forward(ctx, x, const_ptrs(w), ptrs(y));
  for (size_t b = 0; b < ks.size(); ++b)
    require_close(y[b], naive_conv(x, w[b], static_cast<const Tensor<T>*>(nullptr)), tol<T>(9.0 * c.cin),
                  tol<T>(9.0 * c.cin), "y[" + std::to_string(b) + "]");

  Tensor<T> dx_ref(xs);
  for (size_t b = 0; b < ks.size(); ++b) {
    const auto part = naive_backward_data(dy[b], w[b]);
    for (int64_t i = 0; i < part.numel(); ++i) dx_ref[i] += part[i];
  }
  const double tx = tol<T>(9.0 * c.cout * static_cast<double>(ks.size()));
  require_write_modes<T>(
      dx_ref, tx, tx, rng,
      [&](Tensor<T>& dx, WriteMode m) { conv2d_branches_backward_data(ctx, const_ptrs(dy), const_ptrs(w), dx, m); },
      "dx");

  // Filter gradients: every branch's in one call, both write modes.
  const double tw = tol<T>(static_cast<double>(c.n * c.h * c.w));
  for (const WriteMode m : {WriteMode::Accumulate, WriteMode::Overwrite}) {
    std::vector<Tensor<T>> before;
    for (const auto& t : dw) before.push_back(contiguous(t));
    conv2d_branches_backward_filter(ctx, x, const_ptrs(dy), ptrs(dw), m);
    for (size_t b = 0; b < ks.size(); ++b) {
      Tensor<T> ref = naive_backward_filter(x, dy[b], ks[b].kh, ks[b].kw);
      if (m == WriteMode::Accumulate)
        for (int64_t i = 0; i < ref.numel(); ++i) ref[i] += before[b][i];
      require_close(dw[b], ref, tw, tw, "dw[" + std::to_string(b) + "]");
    }
  }
}

}  // namespace

TEMPLATE_TEST_CASE("conv2d branches match naive per-branch loops", "[ops][conv2d]", float, double) {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const Case cases[] = {
      {2, 16, 16, 33, 35, true},  // odd sizes: partial tiles at the bottom and right
      {1, 16, 24, 32, 75, true},  // more than 16 tiles per row: the vectorised row split
      {2, 17, 16, 32, 29, true},  // 64 tiles per image, W not a multiple of 4
      {8, 20, 16, 16, 16, false},  // 16 tiles per image: per branch
      {2, 8, 16, 40, 40, false},   // Cin < 16: per branch
  };
  for (const Case& c : cases)
    for (const auto& ks : kBranchSets) check_case<TestType>(c, ks, rng);
}

TEST_CASE("conv2d branches read and write strided channel views", "[ops][conv2d]") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  Context<Cpu> ctx;
  const int64_t N = 2, Cin = 16, Cout = 16, H = 32, W = 36, plane = H * W;
  auto xbuf = random_tensor<float>(Shape{N, Cin + 3, H, W}, rng);
  auto ybuf = random_tensor<float>(Shape{N, 2 * Cout + 2, H, W}, rng);
  auto dxbuf = random_tensor<float>(Shape{N, Cin + 4, H, W}, rng);
  const auto ybefore = contiguous(ybuf), dxbefore = contiguous(dxbuf);
  const Tensor<float> x = xbuf.channels(2, Cin);
  std::vector<Tensor<float>> w, y, dw;  // (Tensor is move-only: no initializer lists)
  w.push_back(random_tensor<float>(Shape{Cout, Cin, 3, 3}, rng));
  w.push_back(random_tensor<float>(Shape{Cout, Cin, 1, 3}, rng));
  y.push_back(ybuf.channels(1, Cout));
  y.push_back(ybuf.channels(1 + Cout, Cout));
  REQUIRE(cpu::conv2d_branches_take_winograd<float>(x.shape(), {w[0].shape(), w[1].shape()}));
  conv2d_branches_forward(ctx, x, const_ptrs(w), ptrs(y));
  const auto xc = contiguous(x);
  const double t = 5e-5 * 12;
  for (size_t b = 0; b < 2; ++b)
    require_close(contiguous(y[b]), naive_conv(xc, w[b], static_cast<const Tensor<float>*>(nullptr)), t, t, "y view");
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c : {int64_t(0), 2 * Cout + 1})
      for (int64_t i = 0; i < plane; ++i) REQUIRE(ybuf.sample(n)[c * plane + i] == ybefore.sample(n)[c * plane + i]);

  // dy_b: the y views just written; dx: a view, accumulated onto.
  Tensor<float> dx = dxbuf.channels(1, Cin);
  conv2d_branches_backward_data(ctx, {&y[0], &y[1]}, const_ptrs(w), dx, WriteMode::Accumulate);
  Tensor<float> ref = contiguous(dxbefore.channels(1, Cin));
  for (size_t b = 0; b < 2; ++b) {
    const auto part = naive_backward_data(contiguous(y[b]), w[b]);
    for (int64_t i = 0; i < ref.numel(); ++i) ref[i] += part[i];
  }
  require_close(contiguous(dx), ref, 5e-5 * 20, 5e-5 * 20, "dx view accumulated");
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c : {int64_t(0), Cin + 1, Cin + 3})
      for (int64_t i = 0; i < plane; ++i) REQUIRE(dxbuf.sample(n)[c * plane + i] == dxbefore.sample(n)[c * plane + i]);

  for (const auto& k : w) dw.emplace_back(k.shape());
  conv2d_branches_backward_filter(ctx, x, {&y[0], &y[1]}, ptrs(dw), WriteMode::Overwrite);
  for (size_t b = 0; b < 2; ++b)
    require_close(dw[b], naive_backward_filter(xc, contiguous(y[b]), w[b].shape()[2], w[b].shape()[3]), 5e-5 * 50,
                  5e-5 * 50, "dw from views");
}

TEST_CASE("conv2d branches reject mismatched kernels and outputs", "[ops][conv2d][errors]") {
  Context<Cpu> ctx;
  Tensor<float> x(Shape{1, 4, 8, 8}), y0(Shape{1, 5, 8, 8}), y1(Shape{1, 6, 8, 8});
  Tensor<float> w0(Shape{5, 4, 3, 3}), w1(Shape{6, 4, 1, 3}), w5(Shape{5, 4, 5, 5});
  REQUIRE_THROWS_WITH(conv2d_branches_forward(ctx, x, {&w0, &w1}, {&y0, &y1}),
                      Contains("conv2d_branches_forward") && Contains("branch 1") && Contains("Cout"));
  REQUIRE_THROWS_WITH(conv2d_branches_forward(ctx, x, {&w0}, {&y0, &y0}), Contains("1 kernels for 2 outputs"));
  REQUIRE_THROWS_WITH(conv2d_branches_forward(ctx, x, {&w5}, {&y0}), Contains("not 1x1, 1x3, 3x1 or 3x3"));
  REQUIRE_THROWS_WITH(conv2d_branches_forward(ctx, x, {&w0}, {&y1}), Contains("[1, 6, 8, 8]"));
  REQUIRE_THROWS_WITH(conv2d_branches_backward_data(ctx, {&y0}, {&w0}, y0, WriteMode::Overwrite),
                      Contains("conv2d_branches_backward_data"));
  REQUIRE_THROWS_WITH(conv2d_branches_backward_filter(ctx, x, {&y0, &y1}, {&w0}, WriteMode::Overwrite),
                      Contains("1 kernels for 2 outputs"));
}
