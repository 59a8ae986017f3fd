// The CPU convolution algorithm lists (cpu/conv2d_algo.hpp): each list's choice at both sides of its
// thresholds, forcing an algorithm (taken wherever it runs, the list's last entry elsewhere), and
// every algorithm of every list run explicitly (conv2d_*_with) against the naive loops, also below
// the thresholds where only forcing reaches it; algorithms that cannot run a problem are refused;
// PackedConv3x3 packs bf16 weights for the algorithm of the packed-bf16 list and runs exactly it.
#include "support/testing.hpp"

#include <cmath>
#include <type_traits>

#include "srmds/blocks/packed_conv3x3.hpp"
#include "srmds/cpu/conv2d.hpp"
#include "srmds/cpu/conv2d_algo.hpp"
#include "support/naive_conv.hpp"

using namespace srmds;
using cpu::ConvAlgo;
using cpu::ConvPass;
using cpu::ConvProblem;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
using srmds::test::require_close;

namespace {

ConvAlgo choose(ConvPass pass, const Shape& input, const std::vector<Shape>& kernels, bool is_float = true) {
  return cpu::choose_conv_algo(pass, ConvProblem{input, kernels, is_float});
}

// Restores the lists' choice when a test ends, even by a failed REQUIRE.
struct ForceGuard {
  explicit ForceGuard(ConvAlgo a) { cpu::force_conv_algo(a); }
  ~ForceGuard() { cpu::force_conv_algo(ConvAlgo::Auto); }
};

}  // namespace

TEST_CASE("each convolution list chooses by its thresholds", "[cpu][conv2d][algo]") {
  const Shape k33{16, 16, 3, 3}, k13{16, 16, 1, 3}, k11{16, 16, 1, 1};
  // Float forward: F(4x4) for 3x3 kernels, Cin >= 16, 64 tiles in the batch (32 x 32 at batch 1).
  CHECK(choose(ConvPass::Forward, Shape{1, 16, 32, 32}, {k33}) == ConvAlgo::WinogradF4x4);
  CHECK(choose(ConvPass::Forward, Shape{4, 16, 16, 16}, {k33}) == ConvAlgo::WinogradF4x4);
  CHECK(choose(ConvPass::Forward, Shape{1, 16, 28, 32}, {k33}) == ConvAlgo::Im2col);
  CHECK(choose(ConvPass::Forward, Shape{1, 15, 64, 64}, {Shape{16, 15, 3, 3}}) == ConvAlgo::Im2col);
  CHECK(choose(ConvPass::Forward, Shape{1, 16, 64, 64}, {k13}) == ConvAlgo::Im2col);
  // Double forward: F(2x2) from 64 x 64 pixels per image.
  CHECK(choose(ConvPass::Forward, Shape{1, 16, 64, 64}, {k33}, false) == ConvAlgo::WinogradF2x2);
  CHECK(choose(ConvPass::Forward, Shape{8, 16, 32, 64}, {k33}, false) == ConvAlgo::Im2col);
  // Backward data sees dy and the transposed kernel; double keeps im2col.
  CHECK(choose(ConvPass::BackwardData, Shape{1, 16, 32, 32}, {Shape{3, 16, 3, 3}}) == ConvAlgo::WinogradF4x4);
  CHECK(choose(ConvPass::BackwardData, Shape{1, 3, 32, 32}, {Shape{16, 3, 3, 3}}) == ConvAlgo::Im2col);
  CHECK(choose(ConvPass::BackwardData, Shape{1, 16, 64, 64}, {k33}, false) == ConvAlgo::Im2col);
  // Filter: Cin and Cout >= 16, and the 36 Cout Cin sums of a thread within 32 MB.
  CHECK(choose(ConvPass::BackwardFilter, Shape{1, 16, 32, 32}, {k33}) == ConvAlgo::WinogradF4x4);
  CHECK(choose(ConvPass::BackwardFilter, Shape{1, 16, 32, 32}, {Shape{8, 16, 3, 3}}) == ConvAlgo::Im2col);
  CHECK(choose(ConvPass::BackwardFilter, Shape{1, 512, 32, 32}, {Shape{512, 512, 3, 3}}) == ConvAlgo::Im2col);
  CHECK(choose(ConvPass::BackwardFilter, Shape{1, 16, 32, 32}, {k33}, false) == ConvAlgo::Im2col);
  // Branches: 64 tiles per image (not per batch), equal channels, the stacking bound.
  CHECK(choose(ConvPass::BranchesForward, Shape{1, 16, 32, 32}, {k33, k13, k11}) == ConvAlgo::WinogradF4x4);
  CHECK(choose(ConvPass::BranchesForward, Shape{8, 16, 16, 16}, {k33, k13}) == ConvAlgo::Branchwise);
  CHECK(choose(ConvPass::BranchesFilter, Shape{1, 16, 32, 32}, {k33, Shape{16, 8, 1, 1}}) == ConvAlgo::Branchwise);
  CHECK(choose(ConvPass::BranchesFilter, Shape{1, 16, 32, 32}, {k33}, false) == ConvAlgo::Branchwise);
  // The documented lists, in order.
  CHECK(cpu::conv_algo_list(ConvPass::Forward, true) == std::vector<ConvAlgo>{ConvAlgo::WinogradF4x4, ConvAlgo::Im2col});
  CHECK(cpu::conv_algo_list(ConvPass::Forward, false) ==
        std::vector<ConvAlgo>{ConvAlgo::WinogradF2x2, ConvAlgo::Im2col});
  CHECK(cpu::conv_algo_list(ConvPass::BackwardFilter, false) == std::vector<ConvAlgo>{ConvAlgo::Im2col});
  CHECK(cpu::conv_algo_list(ConvPass::BranchesForward, true) ==
        std::vector<ConvAlgo>{ConvAlgo::WinogradF4x4, ConvAlgo::Branchwise});
  // Packed bf16: Winograd F(2x2) from 16 input channels, whatever the image.
  CHECK(choose(ConvPass::PackedBf16, Shape{1, 16, 1, 1}, {k33}) == ConvAlgo::WinogradF2x2);
  CHECK(choose(ConvPass::PackedBf16, Shape{1, 8, 1, 1}, {Shape{16, 8, 3, 3}}) == ConvAlgo::Direct);
}

TEST_CASE("a forced convolution algorithm runs wherever it can, the general one elsewhere", "[cpu][conv2d][algo]") {
  const Shape k33{16, 16, 3, 3}, k11{16, 16, 1, 1};
  {
    ForceGuard force(ConvAlgo::WinogradF4x4);
    CHECK(cpu::forced_conv_algo() == ConvAlgo::WinogradF4x4);
    CHECK(choose(ConvPass::Forward, Shape{1, 2, 5, 7}, {Shape{3, 2, 3, 3}}) == ConvAlgo::WinogradF4x4);
    CHECK(choose(ConvPass::Forward, Shape{1, 16, 64, 64}, {k11}) == ConvAlgo::Im2col);
    CHECK(choose(ConvPass::Forward, Shape{1, 16, 64, 64}, {k33}, false) == ConvAlgo::Im2col);  // not in double's list
    CHECK(choose(ConvPass::BranchesForward, Shape{1, 4, 8, 8}, {Shape{4, 4, 3, 3}, Shape{4, 4, 1, 3}}) ==
          ConvAlgo::WinogradF4x4);
  }
  CHECK(cpu::forced_conv_algo() == ConvAlgo::Auto);
  {
    ForceGuard force(ConvAlgo::Im2col);
    CHECK(choose(ConvPass::Forward, Shape{1, 16, 64, 64}, {k33}) == ConvAlgo::Im2col);
    CHECK(choose(ConvPass::BranchesForward, Shape{1, 16, 64, 64}, {k33, k11}) == ConvAlgo::Branchwise);
  }
  {
    ForceGuard force(ConvAlgo::WinogradF2x2);
    CHECK(choose(ConvPass::Forward, Shape{1, 1, 3, 3}, {Shape{1, 1, 3, 3}}, false) == ConvAlgo::WinogradF2x2);
    CHECK(choose(ConvPass::Forward, Shape{1, 16, 64, 64}, {k33}) == ConvAlgo::Im2col);
  }
  for (const char* name : {"auto", "im2col", "winograd2", "WINOGRAD4", "branchwise"})
    CHECK(cpu::parse_conv_algo(name).has_value());
  CHECK_FALSE(cpu::parse_conv_algo("fft").has_value());
}

// Every algorithm of the float and double lists, on small 3x3 problems below every threshold.
TEMPLATE_TEST_CASE("every convolution algorithm of a list matches the naive loops", "[cpu][conv2d][algo]", float,
                   double) {
  using T = TestType;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const bool is_float = std::is_same_v<T, float>;
  // F(4x4) in float rounds up to ~1e-5 of sqrt(9 Cin) (tests/test_conv2d_winograd.cpp); im2col and
  // double far less.
  const int64_t n = 2, cin = 5, cout = 6, h = 13, w = 11;
  const double tol = is_float ? 5e-5 * std::sqrt(9.0 * cin * n * h * w) : 1e-11;
  const auto x = random_tensor<T>(Shape{n, cin, h, w}, rng);
  const auto k = random_tensor<T>(Shape{cout, cin, 3, 3}, rng);
  const auto b = random_tensor<T>(Shape{cout}, rng);
  const auto dy = random_tensor<T>(Shape{n, cout, h, w}, rng);
  const auto y_ref = srmds::test::naive_conv(x, k, &b);
  const auto dx_ref = srmds::test::naive_backward_data(dy, k);
  const auto dw_ref = srmds::test::naive_backward_filter(x, dy, 3, 3);
  for (ConvAlgo a : cpu::conv_algo_list(ConvPass::Forward, is_float)) {
    INFO("forward " << cpu::conv_algo_name(a));
    Tensor<T> y(y_ref.shape());
    cpu::conv2d_forward_with(a, x, k, &b, y);
    require_close(y, y_ref, tol, tol, "y");
  }
  for (ConvAlgo a : cpu::conv_algo_list(ConvPass::BackwardData, is_float)) {
    INFO("backward data " << cpu::conv_algo_name(a));
    Tensor<T> dx(dx_ref.shape());
    cpu::conv2d_backward_data_with(a, dy, k, dx, WriteMode::Overwrite);
    require_close(dx, dx_ref, tol, tol, "dx");
  }
  for (ConvAlgo a : cpu::conv_algo_list(ConvPass::BackwardFilter, is_float)) {
    INFO("backward filter " << cpu::conv_algo_name(a));
    Tensor<T> dw(dw_ref.shape());
    cpu::conv2d_backward_filter_with(a, x, dy, dw, WriteMode::Overwrite);
    require_close(dw, dw_ref, tol, tol, "dw");
  }
  // Refused: Winograd for a 1x3 kernel, an algorithm outside the precision's list.
  const auto k13 = random_tensor<T>(Shape{cout, cin, 1, 3}, rng);
  Tensor<T> y(y_ref.shape());
  CHECK_THROWS_WITH(cpu::conv2d_forward_with(is_float ? ConvAlgo::WinogradF4x4 : ConvAlgo::WinogradF2x2, x, k13,
                                             static_cast<const Tensor<T>*>(nullptr), y),
                    Catch::Contains("does not run") && Catch::Contains("kernel [6, 5, 1, 3]"));
  CHECK_THROWS_WITH(cpu::conv2d_forward_with(is_float ? ConvAlgo::WinogradF2x2 : ConvAlgo::WinogradF4x4, x, k, &b, y),
                    Catch::Contains("does not run"));
  CHECK_THROWS_WITH(cpu::conv2d_forward_with(ConvAlgo::Branchwise, x, k, &b, y), Catch::Contains("branchwise"));
}

TEST_CASE("PackedConv3x3 runs the packed-bf16 list's algorithm, and conv2d_forward in fp32", "[cpu][conv2d][algo]") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  Context<Cpu> ctx;
  Scratch<float, Cpu> scratch;
  for (int64_t cin : {3, 16}) {
    for (ConvAlgo force : {ConvAlgo::Auto, ConvAlgo::WinogradF2x2, ConvAlgo::Direct}) {
      INFO("Cin " << cin << ", forced " << cpu::conv_algo_name(force));
      ForceGuard guard(force);
      const auto x = random_tensor<float>(Shape{2, cin, 9, 12}, rng);
      const auto w = random_tensor<float>(Shape{5, cin, 3, 3}, rng);
      const auto b = random_tensor<float>(Shape{5}, rng);
      PackedConv3x3<float, Cpu> conv;
      conv.pack(w, Precision::Bf16);
      const ConvAlgo expected = force != ConvAlgo::Auto ? force : cin >= 16 ? ConvAlgo::WinogradF2x2 : ConvAlgo::Direct;
      REQUIRE(conv.algo() == expected);
      Tensor<float> y(Shape{2, 5, 9, 12}), ref(y.shape());
      conv.forward(ctx, x, w, b, y, scratch);
      if (expected == ConvAlgo::WinogradF2x2)
        cpu::conv3x3_winograd_bf16_forward(x, cpu::pack_winograd3x3_bf16(w), &b, ref, nullptr, 0);
      else
        cpu::conv3x3_bf16_forward(x, cpu::pack_conv3x3_bf16(w), &b, ref, nullptr, 0);
      for (int64_t i = 0; i < y.numel(); ++i) REQUIRE(y[i] == ref[i]);

      conv.pack(w, Precision::Fp32);
      CHECK(conv.algo() == ConvAlgo::Auto);
      conv.forward(ctx, x, w, b, y, scratch);
      cpu::conv2d_forward(x, w, &b, ref);
      for (int64_t i = 0; i < y.numel(); ++i) REQUIRE(y[i] == ref[i]);
    }
  }
  PackedConv3x3<double, Cpu> dconv;
  CHECK_THROWS_WITH(dconv.pack(Tensor<double>(Shape{4, 4, 3, 3}), Precision::Bf16), Catch::Contains("float network"));
}
