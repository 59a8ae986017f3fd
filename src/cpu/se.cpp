// Squeeze-and-excitation kernels, one variant per ISA level (see include/srmds/cpu/se.hpp,
// src/cpu/variant.hpp).
#include "variant.hpp"

#include <vector>

#include "se_squeeze_excite.hpp"
#include "srmds/cpu/parallel.hpp"
#include "srmds/ops/math/se.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void se_forward(const Tensor<T, Cpu>& x,                                                // (N, C, H, W)
                const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,                     // (Hd, C, 1, 1), (Hd)
                const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2,                     // (C, Hd, 1, 1), (C)
                Tensor<T, Cpu>& y,                                                      // (N, C, H, W)
                Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden, Tensor<T, Cpu>& scale) {  // (N, C), (N, Hd), (N, C)
  detail::se_squeeze_excite(x, w1, b1, w2, b2, mean, hidden, scale);
  detail::se_apply_scale<false>(x, scale, y);
}

template <class T>
void se_backward(const Tensor<T, Cpu>& x,                             // (N, C, H, W) forward input
                 const Tensor<T, Cpu>& dy,                            // (N, C, H, W)
                 const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,  // (Hd, C, 1, 1), (C, Hd, 1, 1)
                 const Tensor<T, Cpu>& mean, const Tensor<T, Cpu>& hidden, const Tensor<T, Cpu>& scale,
                 Tensor<T, Cpu>& dx, WriteMode dx_mode,  // (N, C, H, W)
                 Tensor<T, Cpu>& dw1, Tensor<T, Cpu>& db1, Tensor<T, Cpu>& dw2, Tensor<T, Cpu>& db2,
                 WriteMode param_mode) {
  const Shape& sx = x.shape();
  const int64_t nn = sx.n(), c = sx.c(), hw = sx.h() * sx.w();
  const int hd = static_cast<int>(w1.shape()[0]);
  // ga[n, c] = sum_hw dy x
  std::vector<double> ga(static_cast<size_t>(nn * c));
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* p = x.sample(n) + k * hw;
        const T* g = dy.sample(n) + k * hw;
        double acc = 0;
        for (int64_t i = 0; i < hw; ++i) acc += static_cast<double>(g[i]) * static_cast<double>(p[i]);
        ga[static_cast<size_t>(plane)] = acc;
      },
      hw);
  std::vector<double> gz2(static_cast<size_t>(nn * c)), gz1(static_cast<size_t>(nn * hd)),
      gs(static_cast<size_t>(nn * c));
  std::vector<double> u(static_cast<size_t>(hd)), a(static_cast<size_t>(c));
  for (int64_t n = 0; n < nn; ++n) {
    for (int j = 0; j < hd; ++j) u[static_cast<size_t>(j)] = static_cast<double>(hidden[n * hd + j]);
    for (int64_t k = 0; k < c; ++k) a[static_cast<size_t>(k)] = static_cast<double>(scale[n * c + k]);
    se_excitation_backward(ga.data() + n * c, u.data(), a.data(), w1.data(), w2.data(), static_cast<int>(c), hd,
                           gz2.data() + n * c, gz1.data() + n * hd, gs.data() + n * c);
  }
  // Parameter gradients: sums over the batch.
  for (int j = 0; j < hd; ++j) {
    double gb = 0;
    for (int64_t n = 0; n < nn; ++n) gb += gz1[static_cast<size_t>(n * hd + j)];
    write(db1[j], static_cast<T>(gb), param_mode);
    for (int64_t k = 0; k < c; ++k) {
      double gw = 0;
      for (int64_t n = 0; n < nn; ++n)
        gw += gz1[static_cast<size_t>(n * hd + j)] * static_cast<double>(mean[n * c + k]);
      write(dw1[j * c + k], static_cast<T>(gw), param_mode);
    }
  }
  for (int64_t k = 0; k < c; ++k) {
    double gb = 0;
    for (int64_t n = 0; n < nn; ++n) gb += gz2[static_cast<size_t>(n * c + k)];
    write(db2[k], static_cast<T>(gb), param_mode);
    for (int j = 0; j < hd; ++j) {
      double gw = 0;
      for (int64_t n = 0; n < nn; ++n)
        gw += gz2[static_cast<size_t>(n * c + k)] * static_cast<double>(hidden[n * hd + j]);
      write(dw2[k * hd + j], static_cast<T>(gw), param_mode);
    }
  }
  // dx = dy a + gs / (H W)
  const bool acc = dx_mode == WriteMode::Accumulate;
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* g = dy.sample(n) + k * hw;
        T* d = dx.sample(n) + k * hw;
        const T ak = scale[plane];
        const T shift = static_cast<T>(gs[static_cast<size_t>(plane)] / static_cast<double>(hw));
        for (int64_t i = 0; i < hw; ++i) {
          const T v = g[i] * ak + shift;
          d[i] = acc ? d[i] + v : v;
        }
      },
      hw);
}

SRMDS_CPU_INSTANTIATE(se_forward)
SRMDS_CPU_INSTANTIATE(se_backward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
