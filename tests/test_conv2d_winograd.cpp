// cpu::conv2d_winograd3x3 (Winograd F(2x2, 3x3)) and cpu::conv2d_winograd3x3_f4x4 (F(4x4, 3x3))
// against a naive double loop: odd and even, non-square sizes down to 1x1 (and not multiples of the
// tile), N > 1, odd channel counts, strided channel views in and out, with and without bias, enough
// work for the threaded path, F(4x4)'s chunked path for large weights; the FusedBlock that uses
// them; bad shapes.
#include "support/testing.hpp"

#include "srmds/blocks/srfv_block.hpp"
#include "srmds/cpu/conv2d.hpp"
#include "srmds/cpu/conv2d_winograd.hpp"
#include "srmds/ops/conv2d.hpp"

using namespace srmds;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;

namespace {

template <class T>
Tensor<double, Cpu> naive_conv3x3(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const Tensor<T, Cpu>* bias) {
  const Shape& s = x.shape();
  const int64_t co = w.shape()[0];
  Tensor<double, Cpu> y(Shape{s.n(), co, s.h(), s.w()});
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t o = 0; o < co; ++o)
      for (int64_t i = 0; i < s.h(); ++i)
        for (int64_t j = 0; j < s.w(); ++j) {
          double acc = bias ? double((*bias)[o]) : 0.0;
          for (int64_t c = 0; c < s.c(); ++c)
            for (int p = 0; p < 3; ++p)
              for (int q = 0; q < 3; ++q) {
                const int64_t r = i + p - 1, cc = j + q - 1;
                if (r >= 0 && r < s.h() && cc >= 0 && cc < s.w())
                  acc += double(w.at(o, c, p, q)) * double(x.at(n, c, r, cc));
              }
          y.at(n, o, i, j) = acc;
        }
  return y;
}

}  // namespace

TEMPLATE_TEST_CASE("conv2d_winograd3x3 matches a naive loop", "[cpu][conv2d]", float, double) {
  using T = TestType;
  Rng rng(fresh_seed());
  // Relative to sum |w||x| ~ sqrt(9 Cin) scale: float rounding of the transforms and the GEMM.
  const double rtol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  for (Shape s : {Shape{1, 1, 1, 1}, Shape{2, 3, 5, 7}, Shape{1, 5, 8, 3}, Shape{3, 7, 6, 9}, Shape{2, 33, 40, 34},
                  Shape{1, 16, 2, 64}}) {
    for (const int64_t co : {int64_t(1), int64_t(6), int64_t(19)}) {
      auto x = random_tensor<T>(s, rng);
      auto w = random_tensor<T>(Shape{co, s.c(), 3, 3}, rng);
      auto b = random_tensor<T>(Shape{co}, rng);
      for (const bool with_bias : {false, true}) {
        const auto ref = naive_conv3x3(x, w, with_bias ? &b : nullptr);
        Tensor<T> y(ref.shape());
        cpu::conv2d_winograd3x3(x, w, with_bias ? &b : nullptr, y);
        const double scale = std::sqrt(9.0 * static_cast<double>(s.c()));
        test::require_close(y, ref, rtol, rtol * scale, "winograd");
      }
    }
  }
}

TEMPLATE_TEST_CASE("conv2d_winograd3x3_f4x4 matches a naive loop", "[cpu][conv2d]", float, double) {
  using T = TestType;
  Rng rng(fresh_seed());
  // Relative to the scale sqrt(9 Cin) of sum |w||x| for inputs in [-1, 1]. F(4x4) rounds more than
  // F(2x2): B^T and A^T have entries up to 5 and 8, so the transformed input and the products reach
  // ~1e2 times the tile's values before the output transform cancels them, and each rounding of unit
  // u costs up to ~1e2 u of the output scale: ~1e-5 in float (u = 6e-8), ~1e-14 in double. Measured
  // in float on these shapes: up to 8e-6 of the scale (F(2x2) and im2col: 6e-7); the bounds leave a
  // factor of ~6.
  const double rtol = std::is_same_v<T, float> ? 5e-5 : 1e-13;
  for (Shape s : {Shape{1, 1, 1, 1}, Shape{2, 3, 5, 7}, Shape{1, 5, 8, 3}, Shape{3, 7, 6, 9}, Shape{2, 33, 40, 34},
                  Shape{1, 16, 2, 64}, Shape{1, 4, 13, 11}, Shape{2, 6, 4, 4}, Shape{1, 17, 3, 2}}) {
    for (const int64_t co : {int64_t(1), int64_t(6), int64_t(19)}) {
      auto x = random_tensor<T>(s, rng);
      auto w = random_tensor<T>(Shape{co, s.c(), 3, 3}, rng);
      auto b = random_tensor<T>(Shape{co}, rng);
      for (const bool with_bias : {false, true}) {
        const auto ref = naive_conv3x3(x, w, with_bias ? &b : nullptr);
        Tensor<T> y(ref.shape());
        cpu::conv2d_winograd3x3_f4x4(x, w, with_bias ? &b : nullptr, y);
        const double scale = std::sqrt(9.0 * static_cast<double>(s.c()));
        test::require_close(y, ref, rtol, rtol * scale, "winograd f4x4");
      }
    }
  }
}

TEST_CASE("conv2d_winograd3x3 on strided channel views", "[cpu][conv2d]") {
  Rng rng(fresh_seed());
  auto big_x = random_tensor<float>(Shape{2, 11, 9, 10}, rng);
  Tensor<float> big_y(Shape{2, 8, 9, 10});
  for (int64_t i = 0; i < big_y.numel(); ++i) big_y[i] = 7.0f;
  const Tensor<float> xv = big_x.channels(3, 5);
  Tensor<float> yv = big_y.channels(2, 4);
  auto w = random_tensor<float>(Shape{4, 5, 3, 3}, rng);
  auto b = random_tensor<float>(Shape{4}, rng);
  cpu::conv2d_winograd3x3(xv, w, &b, yv);
  Tensor<float> x(Shape{2, 5, 9, 10});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 5; ++c)
      for (int64_t i = 0; i < 9; ++i)
        for (int64_t j = 0; j < 10; ++j) x.at(n, c, i, j) = big_x.at(n, c + 3, i, j);
  const auto ref = naive_conv3x3(x, w, &b);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 8; ++c)
      for (int64_t i = 0; i < 9; ++i)
        for (int64_t j = 0; j < 10; ++j) {
          if (c >= 2 && c < 6)
            REQUIRE(big_y.at(n, c, i, j) == Approx(ref.at(n, c - 2, i, j)).margin(1e-5));
          else
            REQUIRE(big_y.at(n, c, i, j) == 7.0f);
        }
}

TEST_CASE("conv2d_winograd3x3 agrees with the im2col path on a large threaded case", "[cpu][conv2d]") {
  Rng rng(fresh_seed());
  const Shape s{2, 64, 48, 80};
  auto x = random_tensor<float>(s, rng);
  auto w = random_tensor<float>(Shape{48, 64, 3, 3}, rng, -0.05, 0.05);
  auto b = random_tensor<float>(Shape{48}, rng);
  Tensor<float> y(Shape{2, 48, 48, 80}), ref(Shape{2, 48, 48, 80});
  cpu::conv2d_winograd3x3(x, w, &b, y);
  cpu::detail::conv2d_banded(x, w.data(), 3, 3, b.data(), ref, false, int64_t(1) << 20, 192);
  test::require_close(y, ref, 1e-5, 1e-5, "winograd vs im2col");
}

TEST_CASE("conv2d_winograd3x3_f4x4 over chunks of input channels (large weights)", "[cpu][conv2d]") {
  // 36 Cout Cin floats above 16 MB (src/cpu/conv2d_winograd4.cpp kMaxFullWeightsBytes) and Cin not
  // a multiple of the 128-channel chunk: M accumulates over 128 + 128 + 44 channels, sample by sample.
  Rng rng(fresh_seed());
  const Shape s{2, 300, 13, 10};
  auto x = random_tensor<float>(s, rng);
  auto w = random_tensor<float>(Shape{400, 300, 3, 3}, rng);
  auto b = random_tensor<float>(Shape{400}, rng);
  for (const bool with_bias : {false, true}) {
    const auto ref = naive_conv3x3(x, w, with_bias ? &b : nullptr);
    Tensor<float> y(ref.shape());
    cpu::conv2d_winograd3x3_f4x4(x, w, with_bias ? &b : nullptr, y);
    const double rtol = 5e-5, scale = std::sqrt(9.0 * 300.0);  // as in the naive-loop case above
    test::require_close(y, ref, rtol, rtol * scale, "winograd f4x4 chunked");
  }
}

TEST_CASE("conv2d_winograd3x3_f4x4 on strided channel views", "[cpu][conv2d]") {
  Rng rng(fresh_seed());
  auto big_x = random_tensor<float>(Shape{2, 11, 9, 10}, rng);
  Tensor<float> big_y(Shape{2, 8, 9, 10});
  for (int64_t i = 0; i < big_y.numel(); ++i) big_y[i] = 7.0f;
  const Tensor<float> xv = big_x.channels(3, 5);
  Tensor<float> yv = big_y.channels(2, 4);
  auto w = random_tensor<float>(Shape{4, 5, 3, 3}, rng);
  auto b = random_tensor<float>(Shape{4}, rng);
  cpu::conv2d_winograd3x3_f4x4(xv, w, &b, yv);
  Tensor<float> x(Shape{2, 5, 9, 10});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 5; ++c)
      for (int64_t i = 0; i < 9; ++i)
        for (int64_t j = 0; j < 10; ++j) x.at(n, c, i, j) = big_x.at(n, c + 3, i, j);
  const auto ref = naive_conv3x3(x, w, &b);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 8; ++c)
      for (int64_t i = 0; i < 9; ++i)
        for (int64_t j = 0; j < 10; ++j) {
          if (c >= 2 && c < 6)  // 5e-5 * sqrt(9 * 5), the bound of the naive-loop case
            REQUIRE(big_y.at(n, c, i, j) == Approx(ref.at(n, c - 2, i, j)).margin(3.5e-4));
          else
            REQUIRE(big_y.at(n, c, i, j) == 7.0f);
        }
}

TEST_CASE("conv2d_winograd3x3_f4x4 agrees with the im2col path on a large threaded case", "[cpu][conv2d]") {
  Rng rng(fresh_seed());
  const Shape s{2, 64, 50, 78};  // 13 x 20 tiles per sample, the last row and column of tiles partial
  auto x = random_tensor<float>(s, rng);
  auto w = random_tensor<float>(Shape{48, 64, 3, 3}, rng, -0.05, 0.05);
  auto b = random_tensor<float>(Shape{48}, rng);
  Tensor<float> y(Shape{2, 48, 50, 78}), ref(Shape{2, 48, 50, 78});
  cpu::conv2d_winograd3x3_f4x4(x, w, &b, y);
  cpu::detail::conv2d_banded(x, w.data(), 3, 3, b.data(), ref, false, int64_t(1) << 20, 192);
  // |w| <= 0.05 over 576 terms: sum |w||x| <= 29, typically ~0.7; F(4x4) rounds ~1e2 u of that.
  test::require_close(y, ref, 2e-5, 2e-5, "winograd f4x4 vs im2col");
}

TEST_CASE("conv2d_winograd3x3 rejects mismatched shapes", "[cpu][conv2d]") {
  Tensor<float> x(Shape{1, 4, 6, 6}), w(Shape{3, 4, 3, 3}), y(Shape{1, 3, 6, 5}), w1(Shape{3, 4, 1, 1});
  REQUIRE_THROWS_WITH(cpu::conv2d_winograd3x3(x, w, nullptr, y),
                      Catch::Contains("conv2d_winograd3x3") && Catch::Contains("[1, 3, 6, 5]"));
  Tensor<float> y_ok(Shape{1, 3, 6, 6});
  REQUIRE_THROWS_WITH(cpu::conv2d_winograd3x3(x, w1, nullptr, y_ok), Catch::Contains("[3, 4, 1, 1]"));
}

TEST_CASE("fused block (Winograd on the CPU) matches the training form in eval mode", "[blocks][conv2d]") {
  Rng rng(fresh_seed());
  Context<Cpu> ctx;
  NetConfig cfg;
  for (auto io : {std::pair<int64_t, int64_t>{32, 32}, {24, 40}}) {
    SrfvBlock<float, Cpu> block(ctx, cfg, io.first, io.second, rng);
    for (auto& e : block.state())  // non-trivial running statistics
      if (e.name.find("running_var") != std::string::npos)
        for (int64_t i = 0; i < e.value->numel(); ++i) (*e.value)[i] = static_cast<float>(rng.uniform(0.5, 1.5));
      else if (e.name.find("running_mean") != std::string::npos)
        for (int64_t i = 0; i < e.value->numel(); ++i) (*e.value)[i] = static_cast<float>(rng.uniform(-0.2, 0.2));
    auto fused = block.fused(ctx);
    const Shape xs{2, io.first, 64, 66}, ys{2, io.second, 64, 66};  // large enough for the Winograd path
    auto x = random_tensor<float>(xs, rng);
    Tensor<float> y_train(ys), y_fused(ys);
    Scratch<float, Cpu> scratch;
    block.forward_eval(ctx, x, y_train, scratch);
    fused.forward_eval(ctx, x, y_fused, scratch);
    test::require_close(y_fused, y_train, 1e-5, 1e-5, "fused vs training form");
  }
}
