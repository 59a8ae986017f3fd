// CBAM through the op-case table (support/op_case.hpp): forward and saved tensors against a naive
// loop written from SPEC §2 (images smaller than the 7x7 kernel, strided views, in place), backward
// against finite differences in double for x and all four parameters, write modes; and rejected
// shapes.
#include <cmath>
#include <vector>

#include "srmds/ops/cbam.hpp"
#include "support/op_case.hpp"

using namespace srmds;
using srmds::test::OpCase;
using srmds::test::OpChecks;
using srmds::test::OpReference;
using srmds::test::random_tensor;

namespace {

template <class T>
struct CbamParams {
  Tensor<T> w1, w2, ws, bs;
};

template <class T>
CbamParams<T> random_params(int64_t c, int64_t hd, Rng& rng) {
  return {random_tensor<T>(Shape{hd, c, 1, 1}, rng), random_tensor<T>(Shape{c, hd, 1, 1}, rng),
          random_tensor<T>(Shape{1, 2, 7, 7}, rng, -0.5, 0.5), random_tensor<T>(Shape{1}, rng, -0.5, 0.5)};
}

double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

// Naive CBAM in double; also returns the channel gate a and the spatial gate m.
template <class T>
Tensor<double> naive_cbam(const Tensor<T>& x, const CbamParams<T>& p, Tensor<double>& a, Tensor<double>& m,
                          Tensor<double>& pooled) {
  const Shape& s = x.shape();
  const int64_t C = s.c(), H = s.h(), W = s.w(), hd = p.w1.shape()[0];
  a = Tensor<double>(Shape{s.n(), C});
  m = Tensor<double>(Shape{s.n(), 1, H, W});
  pooled = Tensor<double>(Shape{s.n(), 2, H, W});
  Tensor<double> y(s);
  for (int64_t n = 0; n < s.n(); ++n) {
    std::vector<double> avg(static_cast<size_t>(C)), mx(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      double acc = 0, best = -1e300;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          acc += x.at(n, c, h, w);
          best = std::max(best, static_cast<double>(x.at(n, c, h, w)));
        }
      avg[static_cast<size_t>(c)] = acc / static_cast<double>(H * W);
      mx[static_cast<size_t>(c)] = best;
    }
    auto mlp = [&](const std::vector<double>& v) {
      std::vector<double> hid(static_cast<size_t>(hd)), out(static_cast<size_t>(C));
      for (int64_t j = 0; j < hd; ++j) {
        double z = 0;
        for (int64_t c = 0; c < C; ++c) z += p.w1[j * C + c] * v[static_cast<size_t>(c)];
        hid[static_cast<size_t>(j)] = std::max(z, 0.0);
      }
      for (int64_t c = 0; c < C; ++c) {
        double z = 0;
        for (int64_t j = 0; j < hd; ++j) z += p.w2[c * hd + j] * hid[static_cast<size_t>(j)];
        out[static_cast<size_t>(c)] = z;
      }
      return out;
    };
    const auto za = mlp(avg), zm = mlp(mx);
    for (int64_t c = 0; c < C; ++c) a[n * C + c] = sigmoid(za[static_cast<size_t>(c)] + zm[static_cast<size_t>(c)]);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) {
        double sum = 0, best = -1e300;
        for (int64_t c = 0; c < C; ++c) {
          const double v = x.at(n, c, h, w) * a[n * C + c];
          sum += v;
          best = std::max(best, v);
        }
        pooled.at(n, 0, h, w) = sum / static_cast<double>(C);
        pooled.at(n, 1, h, w) = best;
      }
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) {
        double z = p.bs[0];
        for (int64_t k = 0; k < 2; ++k)
          for (int64_t dh = -3; dh <= 3; ++dh)
            for (int64_t dw = -3; dw <= 3; ++dw) {
              const int64_t hh = h + dh, ww = w + dw;
              if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
              z += p.ws[(k * 7 + dh + 3) * 7 + dw + 3] * pooled.at(n, k, hh, ww);
            }
        m.at(n, 0, h, w) = sigmoid(z);
        for (int64_t c = 0; c < C; ++c) y.at(n, c, h, w) = x.at(n, c, h, w) * a[n * C + c] * m.at(n, 0, h, w);
      }
  }
  return y;
}

// The op-case adapter (support/op_case.hpp).
template <class T>
class CbamOp {
 public:
  static constexpr const char* kName = "cbam";
  static constexpr const char* kSize = "hidden";
  static constexpr bool kInPlace = true;
  static OpChecks checks() {
    OpChecks c;
    c.forward_float = 2e-5;
    c.forward_double = 1e-12;
    // Max pooling and ReLU have kinks: an entry passes on a one-sided difference if a max or a
    // hidden unit switches within eps (check_gradient's kink fallback); a wrong gradient fails all three.
    // A one-sided difference carries an O(eps f'') truncation error (seen up to 3e-5 relative with
    // eps 1e-5 on the largest case), hence 1e-4 for the fallback; central differences keep 1e-6.
    c.fd_eps = 1e-5;
    c.fd_kink = 1e-4;
    return c;
  }

  CbamOp(const OpCase& k, Rng& rng) : m_hd(k.size), m_p(random_params<T>(k.x.c(), k.size, rng)) {}
  std::vector<std::string> param_names() const {
    return {"fc1.weight", "fc2.weight", "spatial.weight", "spatial.bias"};
  }
  std::vector<Tensor<T>*> params() { return {&m_p.w1, &m_p.w2, &m_p.ws, &m_p.bs}; }

  void forward(Context<Cpu>& ctx, const Tensor<T>& x, Tensor<T>& y) {
    m_saved = cbam_saved_for<T>(ctx, x.shape(), m_hd);
    cbam_forward(ctx, x, m_p.w1, m_p.w2, m_p.ws, m_p.bs, y, m_saved);
  }
  void backward(Context<Cpu>& ctx, const Tensor<T>& x, const Tensor<T>& dy, Tensor<T>& dx, WriteMode dx_mode,
                const std::vector<Tensor<T>*>& g, WriteMode param_mode) {
    cbam_backward(ctx, x, dy, m_p.w1, m_p.w2, m_p.ws, m_p.bs, m_saved, dx, dx_mode, *g[0], *g[1], *g[2], *g[3],
                  param_mode);
  }
  OpReference<T> reference(const Tensor<T>& x) const {
    OpReference<T> r;
    Tensor<double> a, m, pooled;
    r.y = naive_cbam(x, m_p, a, m, pooled);
    r.saved.push_back({"saved.scale", &m_saved.scale, std::move(a)});
    r.saved.push_back({"saved.gate", &m_saved.gate, std::move(m)});
    r.saved.push_back({"saved.pooled", &m_saved.pooled, std::move(pooled)});
    // The saved argmax positions hold the saved maxima.
    const Shape& s = x.shape();
    for (int64_t n = 0; n < s.n(); ++n)
      for (int64_t c = 0; c < s.c(); ++c) {
        const int32_t at = m_saved.max_index[n * s.c() + c];
        REQUIRE(at >= 0);
        REQUIRE(at < s.h() * s.w());
        REQUIRE(x.sample(n)[c * s.h() * s.w() + at] == m_saved.max[n * s.c() + c]);
      }
    return r;
  }

 private:
  int64_t m_hd;
  CbamParams<T> m_p;
  CbamSaved<T, Cpu> m_saved;
};

const std::vector<OpCase> kCases = {{Shape{2, 5, 6, 7}, 4}, {Shape{1, 32, 9, 8}, 2},
                                    {Shape{3, 3, 2, 3}, 4}, {Shape{2, 4, 1, 1}, 4},
                                    {Shape{3, 5, 4, 3}, 4}, {Shape{2, 9, 40, 36}, 4}};  // the last runs in parallel

}  // namespace

SRMDS_OP_CASE_TESTS(CbamOp, "cbam", kCases)

TEST_CASE("cbam rejects inconsistent weights naming the op and the tensor", "[ops][cbam][errors]") {
  Context<Cpu> ctx;
  const Shape s{2, 8, 4, 4};
  Tensor<float> x(s), y(s), w1(Shape{4, 8, 1, 1}), w2(Shape{8, 4, 1, 1}), ws(Shape{1, 2, 7, 7}), bs(Shape{1});
  auto saved = cbam_saved_for<float>(ctx, s, 4);
  Tensor<float> ws_bad(Shape{1, 2, 3, 3});
  REQUIRE_THROWS_WITH(cbam_forward(ctx, x, w1, w2, ws_bad, bs, y, saved),
                      Catch::Contains("cbam_forward") && Catch::Contains("spatial.weight") &&
                          Catch::Contains("[1, 2, 3, 3]") && Catch::Contains("[1, 2, 7, 7]"));
  Tensor<float> w2_bad(Shape{8, 3, 1, 1});
  REQUIRE_THROWS_WITH(cbam_forward(ctx, x, w1, w2_bad, ws, bs, y, saved),
                      Catch::Contains("cbam_forward") && Catch::Contains("fc2.weight"));
  auto saved_bad = cbam_saved_for<float>(ctx, Shape{2, 8, 4, 5}, 4);
  REQUIRE_THROWS_WITH(cbam_forward(ctx, x, w1, w2, ws, bs, y, saved_bad),
                      Catch::Contains("cbam_forward") && Catch::Contains("saved.pooled"));
}
