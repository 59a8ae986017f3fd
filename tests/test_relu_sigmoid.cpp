#include "support/testing.hpp"

#include "srmds/ops/relu.hpp"
#include "srmds/ops/sigmoid.hpp"
#include "srmds/ops/tensor_ops.hpp"

using namespace srmds;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;

TEMPLATE_TEST_CASE("relu forward/backward match a naive loop", "[ops][relu]", float, double) {
  using T = TestType;
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  for (Shape s : {Shape{1, 3, 5, 7}, Shape{2, 5, 4, 6}, Shape{3, 1, 2, 9}}) {
    auto x = random_tensor<T>(s, rng);
    auto dy = random_tensor<T>(s, rng);
    Tensor<T> y(s), dx(s);
    relu_forward(ctx, x, y);
    relu_backward(ctx, y, dy, dx, WriteMode::Overwrite);
    for (int64_t i = 0; i < x.numel(); ++i) {
      REQUIRE(y[i] == (x[i] > 0 ? x[i] : T(0)));
      REQUIRE(dx[i] == (x[i] > 0 ? dy[i] : T(0)));
    }
    relu_backward(ctx, y, dy, dx, WriteMode::Accumulate);
    for (int64_t i = 0; i < x.numel(); ++i) REQUIRE(dx[i] == (x[i] > 0 ? 2 * dy[i] : T(0)));
  }
}

TEST_CASE("relu propagates NaN like PyTorch (a poisoned activation must reach the loss)", "[ops][relu]") {
  Context<Cpu> ctx;
  Tensor<float> x(Shape{1, 1, 1, 4}), y(x.shape());
  x[0] = std::nanf("");
  x[1] = -1.0f;
  x[2] = 2.0f;
  x[3] = -0.0f;
  relu_forward(ctx, x, y);
  REQUIRE(std::isnan(y[0]));
  REQUIRE(y[1] == 0.0f);
  REQUIRE(y[2] == 2.0f);
  REQUIRE(y[3] == 0.0f);
}

TEST_CASE("relu works on a strided channel view", "[ops][relu]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  auto whole = random_tensor<float>(Shape{3, 5, 4, 4}, rng);
  Tensor<float> y(Shape{3, 2, 4, 4});
  relu_forward(ctx, whole.channels(2, 2), y);
  for (int n = 0; n < 3; ++n)
    for (int c = 0; c < 2; ++c)
      for (int h = 0; h < 4; ++h)
        for (int w = 0; w < 4; ++w) REQUIRE(y.at(n, c, h, w) == std::max(whole.at(n, c + 2, h, w), 0.0f));
}

TEST_CASE("sigmoid is stable and its backward matches finite differences", "[ops][sigmoid]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  Tensor<double> x(Shape{2, 3, 4, 5});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform(-8, 8);
  x[0] = 1000;
  x[1] = -1000;
  Tensor<double> y(x.shape());
  sigmoid_forward(ctx, x, y);
  REQUIRE(y[0] == 1.0);
  REQUIRE(y[1] == 0.0);
  for (int64_t i = 2; i < x.numel(); ++i) REQUIRE(y[i] == Approx(1 / (1 + std::exp(-x[i]))).epsilon(1e-14));
  x[0] = 0.3;
  x[1] = -0.2;
  auto w = random_tensor<double>(x.shape(), rng);
  Tensor<double> dx(x.shape());
  sigmoid_forward(ctx, x, y);
  sigmoid_backward(ctx, y, w, dx, WriteMode::Overwrite);
  srmds::test::check_gradient(x, dx, [&] {
    Tensor<double> yy(x.shape());
    sigmoid_forward(ctx, x, yy);
    return srmds::test::weighted_sum(yy, w);
  }, "sigmoid dx", rng);
}

TEST_CASE("ops reject mismatched shapes naming the op and both shapes", "[ops][errors]") {
  Context<Cpu> ctx;
  Tensor<float> x(Shape{1, 2, 3, 4}), y(Shape{1, 2, 3, 5});
  REQUIRE_THROWS_WITH(relu_forward(ctx, x, y), Catch::Contains("relu_forward") && Catch::Contains("[1, 2, 3, 4]") &&
                                                   Catch::Contains("[1, 2, 3, 5]"));
}
