// CPU pieces of synchronised BatchNorm (include/srmds/cpu/sync_batchnorm.hpp). Channels in parallel;
// each channel's sums in a fixed order (samples, then positions), so they do not depend on threads.
#include "srmds/cpu/sync_batchnorm.hpp"

#include "srmds/cpu/parallel.hpp"
#include "srmds/ops/math/batchnorm.hpp"

namespace srmds::cpu {

template <class T>
void batchnorm_shifted_sums(const Tensor<T, Cpu>& x, const double* shift, double* sums) {
  const Shape& s = x.shape();
  const int64_t hw = s.h() * s.w(), channels = s.c();
  parallel_for(
      channels,
      [&](int64_t c) {
        const double k = shift[c];
        double s1 = 0, s2 = 0;
        for (int64_t n = 0; n < s.n(); ++n) {
          const T* p = x.sample(n) + c * hw;
          for (int64_t i = 0; i < hw; ++i) {
            const double d = static_cast<double>(p[i]) - k;
            s1 += d;
            s2 += d * d;
          }
        }
        sums[c] = s1;
        sums[channels + c] = s2;
      },
      s.n() * hw);
}

template <class T>
void batchnorm_normalize(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta,
                         const double* mean, const double* invstd, Tensor<T, Cpu>& y, WriteMode y_mode) {
  const Shape& s = x.shape();
  const int64_t hw = s.h() * s.w();
  const bool acc = y_mode == WriteMode::Accumulate;
  parallel_for(
      s.c(),
      [&](int64_t c) {
        const T k = static_cast<T>(static_cast<double>(gamma[c]) * invstd[c]);
        const T b = static_cast<T>(static_cast<double>(beta[c]) - mean[c] * static_cast<double>(gamma[c]) * invstd[c]);
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
void batchnorm_grad_sums(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& save_mean,
                         double* sums) {
  const Shape& s = x.shape();
  const int64_t hw = s.h() * s.w(), channels = s.c();
  parallel_for(
      channels,
      [&](int64_t c) {
        const double mean = static_cast<double>(save_mean[c]);
        double s1 = 0, s2 = 0;
        for (int64_t n = 0; n < s.n(); ++n) {
          const T *p = x.sample(n) + c * hw, *g = dy.sample(n) + c * hw;
          for (int64_t i = 0; i < hw; ++i) {
            s1 += static_cast<double>(g[i]);
            s2 += static_cast<double>(g[i]) * (static_cast<double>(p[i]) - mean);
          }
        }
        sums[c] = s1;
        sums[channels + c] = s2;
      },
      s.n() * hw);
}

template <class T>
void batchnorm_input_grad_from(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& gamma,
                               const Tensor<T, Cpu>& save_mean, const Tensor<T, Cpu>& save_invstd,
                               const double* mean_dy, const double* mean_dy_xhat, Tensor<T, Cpu>& dx,
                               WriteMode dx_mode) {
  const Shape& s = x.shape();
  const int64_t hw = s.h() * s.w();
  const bool acc = dx_mode == WriteMode::Accumulate;
  parallel_for(
      s.c(),
      [&](int64_t c) {
        const double invstd = static_cast<double>(save_invstd[c]);
        const T k = static_cast<T>(static_cast<double>(gamma[c]) * invstd);
        const T mdy = static_cast<T>(mean_dy[c]), mdx = static_cast<T>(mean_dy_xhat[c]);
        const T tm = save_mean[c], ti = save_invstd[c];
        for (int64_t n = 0; n < s.n(); ++n) {
          const T *p = x.sample(n) + c * hw, *g = dy.sample(n) + c * hw;
          T* d = dx.sample(n) + c * hw;
          if (acc) {
            for (int64_t i = 0; i < hw; ++i) d[i] += batchnorm_input_grad(g[i], (p[i] - tm) * ti, k, mdy, mdx);
          } else {
            for (int64_t i = 0; i < hw; ++i) d[i] = batchnorm_input_grad(g[i], (p[i] - tm) * ti, k, mdy, mdx);
          }
        }
      },
      s.n() * hw);
}

#define SRMDS_SYNC_BN_INSTANTIATE(T)                                                                               \
  template void batchnorm_shifted_sums<T>(const Tensor<T, Cpu>&, const double*, double*);                         \
  template void batchnorm_normalize<T>(const Tensor<T, Cpu>&, const Tensor<T, Cpu>&, const Tensor<T, Cpu>&,       \
                                       const double*, const double*, Tensor<T, Cpu>&, WriteMode);                  \
  template void batchnorm_grad_sums<T>(const Tensor<T, Cpu>&, const Tensor<T, Cpu>&, const Tensor<T, Cpu>&,       \
                                       double*);                                                                   \
  template void batchnorm_input_grad_from<T>(const Tensor<T, Cpu>&, const Tensor<T, Cpu>&, const Tensor<T, Cpu>&, \
                                             const Tensor<T, Cpu>&, const Tensor<T, Cpu>&, const double*,          \
                                             const double*, Tensor<T, Cpu>&, WriteMode);
SRMDS_SYNC_BN_INSTANTIATE(float)
SRMDS_SYNC_BN_INSTANTIATE(double)
#undef SRMDS_SYNC_BN_INSTANTIATE

}  // namespace srmds::cpu
