// Polarized self-attention through the op-case table (support/op_case.hpp): forward and saved
// gates against a naive loop that forms every (N, C/2, H, W) map exactly as SPEC §2 writes it (odd
// C, the C = 2 minimum, strided views, in place), backward against finite differences in double for
// x and all twelve parameters (the zero ones under support/psa_zero_grads.hpp), write modes; and
// rejected shapes.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

#include "srmds/ops/psa.hpp"
#include "support/op_case.hpp"
#include "support/psa_zero_grads.hpp"

using namespace srmds;
using srmds::test::fresh_seed;
using srmds::test::OpCase;
using srmds::test::OpChecks;
using srmds::test::OpReference;
using srmds::test::random_tensor;

namespace {

template <class T>
struct PsaParams {
  std::array<Tensor<T>, 12> t;  // PsaSet order
  PsaWeights<T, Cpu> weights() const {
    return {&t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &t[7], &t[8], &t[9], &t[10], &t[11]};
  }
};

template <class T>
PsaParams<T> random_params(int64_t c, Rng& rng) {
  PsaParams<T> p;
  const auto shapes = psa_param_shapes(c).items();
  for (size_t i = 0; i < shapes.size(); ++i) p.t[i] = random_tensor<T>(shapes[i], rng, -0.6, 0.6);
  for (int64_t k = 0; k < c; ++k) p.t[6][k] = static_cast<T>(1.0 + 0.5 * rng.uniform(-1, 1));  // LN weight near 1
  return p;
}

double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

// 1x1 conv with bias on one sample: out (cout, M) from in (cin, M).
template <class T, class V>
std::vector<double> conv1x1(const Tensor<T>& w, const Tensor<T>& b, const V* in, int64_t cin, int64_t M) {
  const int64_t cout = w.shape()[0];
  std::vector<double> out(static_cast<size_t>(cout * M));
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t i = 0; i < M; ++i) {
      double z = b[o];
      for (int64_t c = 0; c < cin; ++c) z += w[o * cin + c] * static_cast<double>(in[c * M + i]);
      out[static_cast<size_t>(o * M + i)] = z;
    }
  return out;
}

// Naive PSA in double; also returns the channel gate a (N, C) and the spatial gate m (N, 1, H, W).
template <class T>
Tensor<double> naive_psa(const Tensor<T>& x, const PsaParams<T>& p, Tensor<double>& a, Tensor<double>& m) {
  const Shape& s = x.shape();
  const int64_t C = s.c(), Ch = C / 2, M = s.h() * s.w();
  a = Tensor<double>(Shape{s.n(), C});
  m = Tensor<double>(Shape{s.n(), 1, s.h(), s.w()});
  Tensor<double> y(s);
  for (int64_t n = 0; n < s.n(); ++n) {
    const T* xn = x.sample(n);
    // channel branch
    const auto v = conv1x1(p.t[0], p.t[1], xn, C, M);   // (Ch, M)
    const auto ql = conv1x1(p.t[2], p.t[3], xn, C, M);  // (1, M)
    double qmax = -1e300, qsum = 0;
    for (double l : ql) qmax = std::max(qmax, l);
    for (double l : ql) qsum += std::exp(l - qmax);
    std::vector<double> z(static_cast<size_t>(Ch), 0.0);
    for (int64_t j = 0; j < Ch; ++j)
      for (int64_t i = 0; i < M; ++i)
        z[static_cast<size_t>(j)] +=
            v[static_cast<size_t>(j * M + i)] * std::exp(ql[static_cast<size_t>(i)] - qmax) / qsum;
    const auto wz = conv1x1(p.t[4], p.t[5], z.data(), Ch, 1);  // (C, 1)
    double mu = 0, var = 0;
    for (double e : wz) mu += e;
    mu /= static_cast<double>(C);
    for (double e : wz) var += (e - mu) * (e - mu);
    var /= static_cast<double>(C);
    for (int64_t k = 0; k < C; ++k)
      a[n * C + k] = sigmoid((wz[static_cast<size_t>(k)] - mu) / std::sqrt(var + 1e-5) * p.t[6][k] + p.t[7][k]);
    // spatial branch
    const auto vs = conv1x1(p.t[8], p.t[9], xn, C, M);    // (Ch, M)
    const auto qs = conv1x1(p.t[10], p.t[11], xn, C, M);  // (Ch, M)
    std::vector<double> qm(static_cast<size_t>(Ch), 0.0);
    for (int64_t j = 0; j < Ch; ++j) {
      for (int64_t i = 0; i < M; ++i) qm[static_cast<size_t>(j)] += qs[static_cast<size_t>(j * M + i)];
      qm[static_cast<size_t>(j)] /= static_cast<double>(M);
    }
    double smax = -1e300, ssum = 0;
    for (double l : qm) smax = std::max(smax, l);
    for (double l : qm) ssum += std::exp(l - smax);
    for (int64_t i = 0; i < M; ++i) {
      double acc = 0;
      for (int64_t j = 0; j < Ch; ++j)
        acc += std::exp(qm[static_cast<size_t>(j)] - smax) / ssum * vs[static_cast<size_t>(j * M + i)];
      m[n * M + i] = sigmoid(acc);
    }
    for (int64_t k = 0; k < C; ++k)
      for (int64_t i = 0; i < M; ++i) {
        const double xv = xn[k * M + i];
        y.sample(n)[k * M + i] = xv * a[n * C + k] + xv * m[n * M + i];
      }
  }
  return y;
}

// The op-case adapter (support/op_case.hpp).
template <class T>
class PsaOp {
 public:
  static constexpr const char* kName = "psa";
  static constexpr const char* kSize = nullptr;
  static constexpr bool kInPlace = true;
  static OpChecks checks() {
    OpChecks c;
    c.forward_float = 2e-5;
    c.forward_double = 1e-12;
    c.fd_points = 32;
    // The loss sums up to 34,560 outputs: its rounding (about 1e-12) divided by 2 eps is 5e-8 at
    // eps = 1e-5, as large as the bound (sp_wv.bias failed for 1 of 1,000 seeds, off by 7.8e-8 at
    // every step tried). At 1e-4 that noise is 5e-9; the check also tries eps / 10 and eps / 100.
    c.fd_eps = 1e-4;
    // zero up to rounding (support/psa_zero_grads.hpp; a central difference sees only the loss's
    // rounding): held to a bound scaled by the op's other gradients, as in the CUDA parity test
    c.grad_is_zero = srmds::test::psa_grad_is_zero;
    return c;
  }

  PsaOp(const OpCase& k, Rng& rng) : m_p(random_params<T>(k.x.c(), rng)) {}
  std::vector<std::string> param_names() const { return {std::begin(kPsaParamNames), std::end(kPsaParamNames)}; }
  std::vector<Tensor<T>*> params() {
    std::vector<Tensor<T>*> out;
    for (auto& t : m_p.t) out.push_back(&t);
    return out;
  }

  void forward(Context<Cpu>& ctx, const Tensor<T>& x, Tensor<T>& y) {
    m_saved = psa_saved_for<T>(ctx, x.shape());
    psa_forward(ctx, x, m_p.weights(), y, m_saved);
  }
  void backward(Context<Cpu>& ctx, const Tensor<T>& x, const Tensor<T>& dy, Tensor<T>& dx, WriteMode dx_mode,
                const std::vector<Tensor<T>*>& g, WriteMode param_mode) {
    const PsaGrads<T, Cpu> grads{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]};
    psa_backward(ctx, x, dy, m_p.weights(), m_saved, dx, dx_mode, grads, param_mode);
  }
  OpReference<T> reference(const Tensor<T>& x) const {
    OpReference<T> r;
    Tensor<double> a, m;
    r.y = naive_psa(x, m_p, a, m);
    r.saved.push_back({"saved.scale", &m_saved.scale, std::move(a)});
    r.saved.push_back({"saved.gate", &m_saved.gate, std::move(m)});
    return r;
  }

 private:
  PsaParams<T> m_p;
  PsaSaved<T, Cpu> m_saved;
};

const std::vector<OpCase> kCases = {{Shape{2, 5, 4, 6}}, {Shape{1, 2, 3, 3}},
                                    {Shape{3, 8, 7, 5}}, {Shape{2, 6, 1, 1}},
                                    {Shape{3, 6, 4, 3}}, {Shape{2, 12, 40, 36}}};  // the last runs in parallel

}  // namespace

SRMDS_OP_CASE_TESTS(PsaOp, "psa", kCases)

TEST_CASE("psa rejects inconsistent shapes naming the op and the tensor", "[ops][psa][errors]") {
  Context<Cpu> ctx;
  Rng rng(fresh_seed());
  const Shape s{2, 8, 4, 4};
  Tensor<float> x(s), y(s);
  auto p = random_params<float>(8, rng);
  auto saved = psa_saved_for<float>(ctx, s);
  p.t[4] = Tensor<float>(Shape{8, 3, 1, 1});
  REQUIRE_THROWS_WITH(psa_forward(ctx, x, p.weights(), y, saved),
                      Catch::Contains("psa_forward") && Catch::Contains("ch_wz.weight") &&
                          Catch::Contains("[8, 3, 1, 1]") && Catch::Contains("[8, 4, 1, 1]"));
  const Shape one{2, 1, 4, 4};
  Tensor<float> x1(one), y1(one);
  auto p1 = random_params<float>(2, rng);
  auto saved1 = psa_saved_for<float>(ctx, one);
  REQUIRE_THROWS_WITH(psa_forward(ctx, x1, p1.weights(), y1, saved1),
                      Catch::Contains("psa_forward") && Catch::Contains("at least 2 channels"));
}
