// Spatial group-wise enhance through the op-case table (support/op_case.hpp): forward and saved
// tensors against a naive loop written from SPEC §2 (several group sizes, the 2-pixel minimum,
// strided views, in place), backward against finite differences in double for x, weight and bias,
// write modes; the initial parameters; and rejected shapes.
#include <cmath>
#include <vector>

#include "srmds/ops/sge.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "support/op_case.hpp"

using namespace srmds;
using srmds::test::fresh_seed;
using srmds::test::OpCase;
using srmds::test::OpChecks;
using srmds::test::OpReference;
using srmds::test::random_tensor;

namespace {

// Naive SGE in double (SPEC §2); also returns the group means, normalised energy and std.
template <class T>
Tensor<double> naive_sge(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, Tensor<double>& mean,
                         Tensor<double>& norm, Tensor<double>& stdev) {
  const Shape& s = x.shape();
  const int64_t G = weight.shape()[1], cg = s.c() / G, M = s.h() * s.w();
  mean = Tensor<double>(Shape{s.n(), s.c()});
  norm = Tensor<double>(Shape{s.n(), G, s.h(), s.w()});
  stdev = Tensor<double>(Shape{s.n(), G});
  Tensor<double> y(s);
  for (int64_t n = 0; n < s.n(); ++n) {
    for (int64_t c = 0; c < s.c(); ++c) {
      double acc = 0;
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w) acc += x.at(n, c, h, w);
      mean[n * s.c() + c] = acc / static_cast<double>(M);
    }
    for (int64_t g = 0; g < G; ++g) {
      std::vector<double> e(static_cast<size_t>(M), 0.0);
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w)
          for (int64_t k = 0; k < cg; ++k) {
            const int64_t c = g * cg + k;
            e[static_cast<size_t>(h * s.w() + w)] += x.at(n, c, h, w) * mean[n * s.c() + c];
          }
      double mu = 0;
      for (double v : e) mu += v;
      mu /= static_cast<double>(M);
      double var = 0;
      for (double v : e) var += (v - mu) * (v - mu);
      const double sd = std::sqrt(var / static_cast<double>(M - 1));
      stdev[n * G + g] = sd;
      for (int64_t h = 0; h < s.h(); ++h)
        for (int64_t w = 0; w < s.w(); ++w) {
          const double t = (e[static_cast<size_t>(h * s.w() + w)] - mu) / (sd + 1e-5);
          norm.at(n, g, h, w) = t;
          const double gate = 1 / (1 + std::exp(-(t * weight[g] + bias[g])));
          for (int64_t k = 0; k < cg; ++k) {
            const int64_t c = g * cg + k;
            y.at(n, c, h, w) = x.at(n, c, h, w) * gate;
          }
        }
    }
  }
  return y;
}

// The op-case adapter (support/op_case.hpp).
template <class T>
class SgeOp {
 public:
  static constexpr const char* kName = "sge";
  static constexpr const char* kSize = "groups";
  static constexpr bool kInPlace = true;
  static OpChecks checks() {
    OpChecks c;
    c.forward_float = 2e-5;
    c.forward_double = 1e-12;
    c.fd_eps = 1e-5;  // see test_se.cpp: loss rounding over a smaller step is too noisy
    return c;
  }

  SgeOp(const OpCase& k, Rng& rng) : m_groups(k.size) {
    // SPEC's initial values are weight 0, bias 1: random values exercise the normalisation too.
    m_weight = random_tensor<T>(Shape{1, k.size, 1, 1}, rng, -2.0, 2.0);
    m_bias = random_tensor<T>(Shape{1, k.size, 1, 1}, rng, -1.0, 1.0);
  }
  std::vector<std::string> param_names() const { return {"weight", "bias"}; }
  std::vector<Tensor<T>*> params() { return {&m_weight, &m_bias}; }

  void forward(Context<Cpu>& ctx, const Tensor<T>& x, Tensor<T>& y) {
    m_saved = sge_saved_for<T>(ctx, x.shape(), m_groups);
    sge_forward(ctx, x, m_weight, m_bias, y, m_saved);
  }
  void backward(Context<Cpu>& ctx, const Tensor<T>& x, const Tensor<T>& dy, Tensor<T>& dx, WriteMode dx_mode,
                const std::vector<Tensor<T>*>& g, WriteMode param_mode) {
    sge_backward(ctx, x, dy, m_weight, m_bias, m_saved, dx, dx_mode, *g[0], *g[1], param_mode);
  }
  OpReference<T> reference(const Tensor<T>& x) const {
    OpReference<T> r;
    Tensor<double> mean, norm, stdev;
    r.y = naive_sge(x, m_weight, m_bias, mean, norm, stdev);
    r.saved.push_back({"saved.mean", &m_saved.mean, std::move(mean)});
    r.saved.push_back({"saved.norm", &m_saved.norm, std::move(norm), 10});
    r.saved.push_back({"saved.stdev", &m_saved.stdev, std::move(stdev)});
    return r;
  }

 private:
  int64_t m_groups;
  Tensor<T> m_weight, m_bias;  // (1, G, 1, 1)
  SgeSaved<T, Cpu> m_saved;
};

const std::vector<OpCase> kCases = {
    {Shape{2, 8, 5, 4}, 8}, {Shape{3, 16, 4, 6}, 8},  {Shape{2, 6, 3, 3}, 6},
    {Shape{1, 4, 1, 2}, 4}, {Shape{2, 6, 4, 3}, 2},   {Shape{1, 1, 3, 2}, 1},
    {Shape{3, 8, 4, 3}, 4}, {Shape{2, 24, 40, 36}, 8}};  // large enough to run in parallel

}  // namespace

SRMDS_OP_CASE_TESTS(SgeOp, "sge", kCases)

TEST_CASE("sge with the initial weight 0 and bias 1 scales every channel by sigmoid(1)", "[ops][sge]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{2, 16, 5, 3};
  auto x = random_tensor<double>(s, rng);
  Tensor<double> w(Shape{1, 8, 1, 1}), b(Shape{1, 8, 1, 1}), y(s);
  fill(ctx, b, 1.0);
  auto saved = sge_saved_for<double>(ctx, s, 8);
  sge_forward(ctx, x, w, b, y, saved);
  for (int64_t i = 0; i < x.numel(); ++i) REQUIRE(y[i] == Approx(x[i] / (1 + std::exp(-1.0))).epsilon(1e-14));
}

TEST_CASE("sge rejects inconsistent shapes naming the op and the tensor", "[ops][sge][errors]") {
  Context<Cpu> ctx;
  const Shape s{2, 12, 4, 4};
  Tensor<float> x(s), y(s), w(Shape{1, 8, 1, 1}), b(Shape{1, 8, 1, 1});
  auto saved = sge_saved_for<float>(ctx, s, 8);
  REQUIRE_THROWS_WITH(sge_forward(ctx, x, w, b, y, saved),
                      Catch::Contains("sge_forward") && Catch::Contains("12 channels") && Catch::Contains("8 groups"));
  Tensor<float> w4(Shape{1, 4, 1, 1}), b_bad(Shape{4});
  auto saved4 = sge_saved_for<float>(ctx, s, 4);
  REQUIRE_THROWS_WITH(sge_forward(ctx, x, w4, b_bad, y, saved4),
                      Catch::Contains("sge_forward") && Catch::Contains("bias") && Catch::Contains("[1, 4, 1, 1]"));
  const Shape one{2, 8, 1, 1};
  Tensor<float> x1(one), y1(one);
  auto saved1 = sge_saved_for<float>(ctx, one, 8);
  REQUIRE_THROWS_WITH(sge_forward(ctx, x1, w, b, y1, saved1),
                      Catch::Contains("sge_forward") && Catch::Contains("at least 2 pixels"));
  Tensor<float> y_bad(Shape{2, 12, 4, 5});
  REQUIRE_THROWS_WITH(sge_forward(ctx, x, w4, w4, y_bad, saved4),
                      Catch::Contains("sge_forward") && Catch::Contains("[2, 12, 4, 5]"));
}
