// Squeeze-and-excitation through the op-case table (support/op_case.hpp): forward and saved
// tensors against a naive loop (hidden width taken from fc1.weight), strided views, backward
// against finite differences for x and all four parameters, write modes; and rejected shapes.
#include <cmath>
#include <vector>

#include "srmds/ops/se.hpp"
#include "support/op_case.hpp"

using namespace srmds;
using srmds::test::OpCase;
using srmds::test::OpChecks;
using srmds::test::OpReference;
using srmds::test::random_tensor;

namespace {

template <class T>
struct SeParams {
  Tensor<T> w1, b1, w2, b2;
};

template <class T>
SeParams<T> random_params(int64_t c, int64_t hd, Rng& rng) {
  return {random_tensor<T>(Shape{hd, c, 1, 1}, rng), random_tensor<T>(Shape{hd}, rng, -0.5, 0.5),
          random_tensor<T>(Shape{c, hd, 1, 1}, rng), random_tensor<T>(Shape{c}, rng, -0.5, 0.5)};
}

// Naive SE in double; also returns s, u, a.
template <class T>
Tensor<double> naive_se(const Tensor<T>& x, const SeParams<T>& p, Tensor<double>& s, Tensor<double>& u,
                        Tensor<double>& a) {
  const Shape& sh = x.shape();
  const int64_t hd = p.w1.shape()[0];
  s = Tensor<double>(Shape{sh.n(), sh.c()});
  u = Tensor<double>(Shape{sh.n(), hd});
  a = Tensor<double>(Shape{sh.n(), sh.c()});
  Tensor<double> y(sh);
  for (int64_t n = 0; n < sh.n(); ++n) {
    for (int64_t c = 0; c < sh.c(); ++c) {
      double acc = 0;
      for (int64_t h = 0; h < sh.h(); ++h)
        for (int64_t w = 0; w < sh.w(); ++w) acc += x.at(n, c, h, w);
      s[n * sh.c() + c] = acc / static_cast<double>(sh.h() * sh.w());
    }
    for (int64_t j = 0; j < hd; ++j) {
      double z = p.b1[j];
      for (int64_t c = 0; c < sh.c(); ++c) z += p.w1[j * sh.c() + c] * s[n * sh.c() + c];
      u[n * hd + j] = std::max(z, 0.0);
    }
    for (int64_t c = 0; c < sh.c(); ++c) {
      double z = p.b2[c];
      for (int64_t j = 0; j < hd; ++j) z += p.w2[c * hd + j] * u[n * hd + j];
      a[n * sh.c() + c] = 1 / (1 + std::exp(-z));
    }
    for (int64_t c = 0; c < sh.c(); ++c)
      for (int64_t h = 0; h < sh.h(); ++h)
        for (int64_t w = 0; w < sh.w(); ++w) y.at(n, c, h, w) = x.at(n, c, h, w) * a[n * sh.c() + c];
  }
  return y;
}

// The op-case adapter (support/op_case.hpp). y may not alias x (ops/se.hpp).
template <class T>
class SeOp {
 public:
  static constexpr const char* kName = "se";
  static constexpr const char* kSize = "hidden";
  static constexpr bool kInPlace = false;
  static OpChecks checks() {
    OpChecks c;
    c.forward_float = 1e-5;
    c.forward_double = 1e-13;
    // The loss sums up to ~35k terms, so its rounding (~1e-12) over a 2e-6 step would be ~1e-6 of
    // the derivative: a 1e-5 step keeps that noise at ~1e-7 (truncation error stays ~1e-10).
    c.fd_eps = 1e-5;
    return c;
  }

  SeOp(const OpCase& k, Rng& rng) : m_hd(k.size), m_p(random_params<T>(k.x.c(), k.size, rng)) {}
  std::vector<std::string> param_names() const { return {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}; }
  std::vector<Tensor<T>*> params() { return {&m_p.w1, &m_p.b1, &m_p.w2, &m_p.b2}; }

  void forward(Context<Cpu>& ctx, const Tensor<T>& x, Tensor<T>& y) {
    m_saved = se_saved_for<T>(ctx, x.shape(), m_hd);
    se_forward(ctx, x, m_p.w1, m_p.b1, m_p.w2, m_p.b2, y, m_saved);
  }
  void backward(Context<Cpu>& ctx, const Tensor<T>& x, const Tensor<T>& dy, Tensor<T>& dx, WriteMode dx_mode,
                const std::vector<Tensor<T>*>& g, WriteMode param_mode) {
    se_backward(ctx, x, dy, m_p.w1, m_p.b1, m_p.w2, m_p.b2, m_saved, dx, dx_mode, *g[0], *g[1], *g[2], *g[3],
                param_mode);
  }
  OpReference<T> reference(const Tensor<T>& x) const {
    OpReference<T> r;
    Tensor<double> s, u, a;
    r.y = naive_se(x, m_p, s, u, a);
    r.saved.push_back({"saved.mean", &m_saved.mean, std::move(s)});
    r.saved.push_back({"saved.hidden", &m_saved.hidden, std::move(u)});
    r.saved.push_back({"saved.scale", &m_saved.scale, std::move(a)});
    return r;
  }

 private:
  int64_t m_hd;
  SeParams<T> m_p;
  SeSaved<T, Cpu> m_saved;
};

const std::vector<OpCase> kCases = {
    {Shape{2, 5, 3, 4}, 4}, {Shape{3, 7, 5, 2}, 3}, {Shape{1, 32, 2, 3}, 2},
    {Shape{4, 1, 3, 3}, 4}, {Shape{3, 5, 4, 3}, 4}, {Shape{2, 9, 48, 40}, 4}};  // large enough to run in parallel

}  // namespace

SRMDS_OP_CASE_TESTS(SeOp, "se", kCases)

TEST_CASE("se rejects inconsistent weights naming the op and the tensor", "[ops][se][errors]") {
  Context<Cpu> ctx;
  const Shape s{2, 8, 4, 4};
  Tensor<float> x(s), y(s), w1(Shape{4, 8, 1, 1}), b1(Shape{4}), w2_bad(Shape{8, 3, 1, 1}), b2(Shape{8});
  auto saved = se_saved_for<float>(ctx, s, 4);
  REQUIRE_THROWS_WITH(se_forward(ctx, x, w1, b1, w2_bad, b2, y, saved),
                      Catch::Contains("se_forward") && Catch::Contains("fc2.weight") &&
                          Catch::Contains("[8, 3, 1, 1]") && Catch::Contains("[8, 4, 1, 1]"));
  Tensor<float> w2(Shape{8, 4, 1, 1}), y_bad(Shape{2, 8, 4, 5});
  REQUIRE_THROWS_WITH(se_forward(ctx, x, w1, b1, w2, b2, y_bad, saved),
                      Catch::Contains("se_forward") && Catch::Contains("[2, 8, 4, 5]"));
}
