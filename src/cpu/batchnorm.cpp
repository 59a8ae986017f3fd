// batchnorm kernels, one variant per ISA level (see include/srmds/cpu/batchnorm.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include <algorithm>
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

// Mean and sum of squared deviations of one channel over the N planes of hw values at x.sample(n) +
// c hw, in one pass over memory: per block of kStatBlock values (in L1 after the first read) the
// block's mean and its squares about that mean, merged by Chan et al.'s pairwise update
//   n = na + nb, d = mean_b - mean_a, mean = mean_a + d nb / n, M2 = M2a + M2b + d^2 na nb / n,
// which is as stable as a two-pass sum about the global mean and reads the data from memory once.
constexpr int64_t kStatBlock = 1024;

// f(offset, len) for the blocks of at most kStatBlock values of channel c's planes in every sample of
// an (N, C, H, W) tensor (offset: from a sample's start), in order.
template <class F>
void for_each_stat_block(int64_t samples, int64_t c, int64_t hw, F&& f) {
  for (int64_t s = 0; s < samples; ++s)
    for (int64_t b0 = 0; b0 < hw; b0 += kStatBlock) f(s, c * hw + b0, std::min(kStatBlock, hw - b0));
}

template <class T>
void channel_moments(const Tensor<T, Cpu>& x, int64_t c, int64_t hw, double& mean, double& m2) {
  double n = 0;
  mean = 0;
  m2 = 0;
  for_each_stat_block(x.shape().n(), c, hw, [&](int64_t s, int64_t off, int64_t len) {
    const T* p = x.sample(s) + off;
    const double nb = static_cast<double>(len);
    const double mb = lane_sum<T>(len, [p](int64_t i) { return static_cast<double>(p[i]); }) / nb;
    const double m2b = lane_sum<T>(len, [p, mb](int64_t i) {
      const double d = static_cast<double>(p[i]) - mb;
      return d * d;
    });
    const double total = n + nb, d = mb - mean;
    mean += d * nb / total;
    m2 += m2b + d * d * n * nb / total;
    n = total;
  });
}

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
        double mean = 0, sq = 0;
        channel_moments(x, c, hw, mean, sq);
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
#pragma omp simd
            for (int64_t i = 0; i < hw; ++i) q[i] += k * p[i] + b;
          } else {
#pragma omp simd
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
        double sum_dy = 0, sum_dy_dev = 0;  // sum(dy), sum(dy (x - mean)), per block (in L1 for the second)
        for_each_stat_block(s.n(), c, hw, [&](int64_t n, int64_t off, int64_t len) {
          const T *p = x.sample(n) + off, *g = dy.sample(n) + off;
          sum_dy += lane_sum<T>(len, [g](int64_t i) { return static_cast<double>(g[i]); });
          sum_dy_dev += lane_sum<T>(len, [p, g, mean](int64_t i) {
            return static_cast<double>(g[i]) * (static_cast<double>(p[i]) - mean);
          });
        });
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
          if (acc_dx) {
#pragma omp simd
            for (int64_t i = 0; i < hw; ++i)
              d[i] += batchnorm_input_grad(g[i], (p[i] - tm) * ti, k, mean_dy, mean_dy_xhat);
          } else {
#pragma omp simd
            for (int64_t i = 0; i < hw; ++i)
              d[i] = batchnorm_input_grad(g[i], (p[i] - tm) * ti, k, mean_dy, mean_dy_xhat);
          }
        }
      },
      s.n() * hw);
}

SRMDS_CPU_INSTANTIATE(batchnorm_forward_train)
SRMDS_CPU_INSTANTIATE(batchnorm_forward_eval)
SRMDS_CPU_INSTANTIATE(batchnorm_backward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
