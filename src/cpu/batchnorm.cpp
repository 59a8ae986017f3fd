// batchnorm kernels, one variant per ISA level (see include/srmds/cpu/batchnorm.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include <cmath>

#include "srmds/ops/math/batchnorm.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace {

// Per-plane reductions in double with kLanes independent partial sums (lane l takes elements
// i = l mod kLanes), so the compiler can keep them in vector registers: one sequential double sum
// is bound by the latency of its additions. The lanes are added in a fixed order, so the result
// does not depend on threads or on the ISA level.
constexpr int kLanes = 8;

template <class T, class F>
double lane_sum(int64_t n, F&& term) {
  double a[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) a[l] += term(i + l);
  double tail = 0;
  for (; i < n; ++i) tail += term(i);
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += a[l];
  return s + tail;
}

}  // namespace

template <class T>
void batchnorm_forward_train(const Tensor<T, Cpu>& x,                                           // (N, C, H, W)
                             const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta,           // (C)
                             Tensor<T, Cpu>& running_mean, Tensor<T, Cpu>& running_var,         // (C)
                             double momentum, double eps, Tensor<T, Cpu>& y, WriteMode y_mode,  // (N, C, H, W)
                             Tensor<T, Cpu>& save_mean, Tensor<T, Cpu>& save_invstd) {          // (C)
  const Shape& s = x.shape();
  const int64_t hw = s.h() * s.w();
  const double m_count = static_cast<double>(s.n() * hw);
  const bool acc = y_mode == WriteMode::Accumulate;
  parallel_for(
      s.c(),
      [&](int64_t c) {
        double sum = 0;
        for (int64_t n = 0; n < s.n(); ++n) {
          const T* p = x.sample(n) + c * hw;
          sum += lane_sum<T>(hw, [p](int64_t i) { return static_cast<double>(p[i]); });
        }
        const double mean = sum / m_count;
        double sq = 0;  // second pass about the mean: no cancellation
        for (int64_t n = 0; n < s.n(); ++n) {
          const T* p = x.sample(n) + c * hw;
          sq += lane_sum<T>(hw, [p, mean](int64_t i) {
            const double d = static_cast<double>(p[i]) - mean;
            return d * d;
          });
        }
        const double var = sq / m_count;
        const double invstd = 1.0 / std::sqrt(var + eps);
        const double unbiased = m_count > 1 ? var * m_count / (m_count - 1) : var;
        save_mean[c] = static_cast<T>(mean);
        save_invstd[c] = static_cast<T>(invstd);
        running_mean[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
        running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
        const T k = static_cast<T>(static_cast<double>(gamma[c]) * invstd);
        const T b = static_cast<T>(static_cast<double>(beta[c]) - mean * static_cast<double>(gamma[c]) * invstd);
        for (int64_t n = 0; n < s.n(); ++n) {
          const T* p = x.sample(n) + c * hw;
          T* q = y.sample(n) + c * hw;
          if (acc) {
            for (int64_t i = 0; i < hw; ++i) q[i] += k * p[i] + b;
          } else {
            for (int64_t i = 0; i < hw; ++i) q[i] = k * p[i] + b;
          }
        }
      },
      s.n() * hw);
}

template <class T>
void batchnorm_forward_eval(const Tensor<T, Cpu>& x,  // (N, C, H, W)
                            const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta, const Tensor<T, Cpu>& running_mean,
                            const Tensor<T, Cpu>& running_var,                  // (C)
                            double eps, Tensor<T, Cpu>& y, WriteMode y_mode) {  // (N, C, H, W)
  const Shape& s = x.shape();
  const int64_t hw = s.h() * s.w();
  const bool acc = y_mode == WriteMode::Accumulate;
  parallel_for(
      s.n() * s.c(),
      [&](int64_t plane) {
        const int64_t n = plane / s.c(), c = plane % s.c();
        const double t = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(running_var[c]) + eps);
        const T k = static_cast<T>(t);
        const T b = static_cast<T>(static_cast<double>(beta[c]) - static_cast<double>(running_mean[c]) * t);
        const T* p = x.sample(n) + c * hw;
        T* q = y.sample(n) + c * hw;
        if (acc) {
          for (int64_t i = 0; i < hw; ++i) q[i] += k * p[i] + b;
        } else {
          for (int64_t i = 0; i < hw; ++i) q[i] = k * p[i] + b;
        }
      },
      hw);
}

template <class T>
void batchnorm_backward(const Tensor<T, Cpu>& x,   // (N, C, H, W) forward input
                        const Tensor<T, Cpu>& dy,  // (N, C, H, W)
                        const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& save_mean,
                        const Tensor<T, Cpu>& save_invstd,      // (C)
                        Tensor<T, Cpu>* dx, WriteMode dx_mode,  // (N, C, H, W) or nullptr
                        Tensor<T, Cpu>* dgamma, Tensor<T, Cpu>* dbeta, WriteMode param_mode) {  // (C) or nullptr
  const Shape& s = x.shape();
  const int64_t hw = s.h() * s.w();
  const double m_count = static_cast<double>(s.n() * hw);
  const bool acc_dx = dx_mode == WriteMode::Accumulate;
  parallel_for(
      s.c(),
      [&](int64_t c) {
        const double mean = static_cast<double>(save_mean[c]);
        const double invstd = static_cast<double>(save_invstd[c]);
        double sum_dy = 0, sum_dy_dev = 0;  // sum(dy), sum(dy (x - mean))
        for (int64_t n = 0; n < s.n(); ++n) {
          const T* p = x.sample(n) + c * hw;
          const T* g = dy.sample(n) + c * hw;
          sum_dy += lane_sum<T>(hw, [g](int64_t i) { return static_cast<double>(g[i]); });
          sum_dy_dev += lane_sum<T>(hw, [p, g, mean](int64_t i) {
            return static_cast<double>(g[i]) * (static_cast<double>(p[i]) - mean);
          });
        }
        const double sum_dy_xhat = sum_dy_dev * invstd;
        if (dgamma) write((*dgamma)[c], static_cast<T>(sum_dy_xhat), param_mode);
        if (dbeta) write((*dbeta)[c], static_cast<T>(sum_dy), param_mode);
        if (!dx) return;
        const T k = static_cast<T>(static_cast<double>(gamma[c]) * invstd);
        const T mean_dy = static_cast<T>(sum_dy / m_count);
        const T mean_dy_xhat = static_cast<T>(sum_dy_xhat / m_count);
        const T tm = static_cast<T>(mean), ti = static_cast<T>(invstd);
        for (int64_t n = 0; n < s.n(); ++n) {
          const T* p = x.sample(n) + c * hw;
          const T* g = dy.sample(n) + c * hw;
          T* d = dx->sample(n) + c * hw;
          for (int64_t i = 0; i < hw; ++i) {
            const T v = batchnorm_input_grad(g[i], (p[i] - tm) * ti, k, mean_dy, mean_dy_xhat);
            d[i] = acc_dx ? d[i] + v : v;
          }
        }
      },
      s.n() * hw);
}

template <class T>
void register_batchnorm(cpu::detail::Kernels<T>& k) {
  k.batchnorm_forward_train = &batchnorm_forward_train<T>;
  k.batchnorm_forward_eval = &batchnorm_forward_eval<T>;
  k.batchnorm_backward = &batchnorm_backward<T>;
}
SRMDS_CPU_REGISTER(batchnorm)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
