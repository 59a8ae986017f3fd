// CBAM kernels, one variant per ISA level (see include/srmds/cpu/cbam.hpp, src/cpu/variant.hpp).
#include "srmds/ops/math/cbam.hpp"

#include <algorithm>
#include <vector>

#include "srmds/cpu/parallel.hpp"
#include "srmds/ops/attention_state.hpp"
#include "srmds/ops/math/attention.hpp"
#include "srmds/ops/math/sigmoid.hpp"
#include "variant.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void cbam_forward(const Tensor<T, Cpu>& x,                             // (N, C, H, W)
                  const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,  // (h, C, 1, 1), (C, h, 1, 1)
                  const Tensor<T, Cpu>& ws, const Tensor<T, Cpu>& bs,  // (1, 2, 7, 7), (1)
                  Tensor<T, Cpu>& y,                                   // (N, C, H, W), may be x
                  CbamSaved<T, Cpu>& sv) {
  const Shape& sx = x.shape();
  const int64_t nn = sx.n(), c = sx.c(), hh = sx.h(), ww = sx.w(), hw = hh * ww;
  const int hd = static_cast<int>(w1.shape()[0]);
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const T* p = x.sample(plane / c) + (plane % c) * hw;
        double acc = 0;
        int64_t best = 0;
        for (int64_t i = 0; i < hw; ++i) {
          acc += static_cast<double>(p[i]);
          if (p[i] > p[best]) best = i;
        }
        sv.avg[plane] = static_cast<T>(acc / static_cast<double>(hw));
        sv.max[plane] = p[best];
        sv.max_index[plane] = static_cast<int32_t>(best);
      },
      hw);
  std::vector<double> ha(static_cast<size_t>(hd)), hm(static_cast<size_t>(hd));
  for (int64_t n = 0; n < nn; ++n) {
    const T* avg = sv.avg.data() + n * c;
    const T* mx = sv.max.data() + n * c;
    const T* no_bias = nullptr;
    for (int j = 0; j < hd; ++j) {
      ha[static_cast<size_t>(j)] = math::relu(affine_out<double>(w1.data(), no_bias, avg, static_cast<int>(c), j));
      hm[static_cast<size_t>(j)] = math::relu(affine_out<double>(w1.data(), no_bias, mx, static_cast<int>(c), j));
      sv.hidden_avg[n * hd + j] = static_cast<T>(ha[static_cast<size_t>(j)]);
      sv.hidden_max[n * hd + j] = static_cast<T>(hm[static_cast<size_t>(j)]);
    }
    for (int k = 0; k < static_cast<int>(c); ++k) {
      const double za = affine_out<double>(w2.data(), no_bias, ha.data(), hd, k);
      const double zm = affine_out<double>(w2.data(), no_bias, hm.data(), hd, k);
      sv.scale[n * c + k] = static_cast<T>(sigmoid_of(za + zm));
    }
  }
  // Pooled map, one image row of one sample per task; channels in ascending order per pixel.
  parallel_for(
      nn * hh,
      [&](int64_t task) {
        const int64_t n = task / hh, i0 = (task % hh) * ww;
        std::vector<double> sum(static_cast<size_t>(ww), 0.0);
        std::vector<T> best(static_cast<size_t>(ww));
        std::vector<int32_t> arg(static_cast<size_t>(ww), 0);
        for (int64_t k = 0; k < c; ++k) {
          const T* p = x.sample(n) + k * hw + i0;
          const T a = sv.scale[n * c + k];
          for (int64_t j = 0; j < ww; ++j) {
            const T v = p[j] * a;
            sum[static_cast<size_t>(j)] += static_cast<double>(v);
            if (k == 0 || v > best[static_cast<size_t>(j)]) {
              best[static_cast<size_t>(j)] = v;
              arg[static_cast<size_t>(j)] = static_cast<int32_t>(k);
            }
          }
        }
        T* pm = sv.pooled.sample(n) + i0;
        T* px = sv.pooled.sample(n) + hw + i0;
        int32_t* pi = sv.pooled_index.sample(n) + i0;
        for (int64_t j = 0; j < ww; ++j) {
          pm[j] = static_cast<T>(sum[static_cast<size_t>(j)] / static_cast<double>(c));
          px[j] = best[static_cast<size_t>(j)];
          pi[j] = arg[static_cast<size_t>(j)];
        }
      },
      c * ww);
  const T bias = bs[0];
  parallel_for(
      nn * hh,
      [&](int64_t task) {
        const int64_t n = task / hh, i = task % hh;
        const T* pooled = sv.pooled.sample(n);
        T* m = sv.gate.sample(n) + i * ww;
        for (int64_t j = 0; j < ww; ++j)
          m[j] = static_cast<T>(
              sigmoid_of(cbam_spatial_logit<double>(pooled, static_cast<int>(hh), static_cast<int>(ww),
                                                    static_cast<int>(i), static_cast<int>(j), ws.data(), bias)));
      },
      kCbamTaps * ww);
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* p = x.sample(n) + k * hw;
        const T* m = sv.gate.sample(n);
        T* q = y.sample(n) + k * hw;
        const T a = sv.scale[plane];
        for (int64_t i = 0; i < hw; ++i) q[i] = (p[i] * a) * m[i];
      },
      hw);
}

template <class T>
void cbam_backward(const Tensor<T, Cpu>& x,                                             // (N, C, H, W) forward input
                   const Tensor<T, Cpu>& dy,                                            // (N, C, H, W)
                   const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,                  // (h, C, 1, 1), (C, h, 1, 1)
                   const Tensor<T, Cpu>& ws,                                            // (1, 2, 7, 7)
                   const CbamSaved<T, Cpu>& sv, Tensor<T, Cpu>& dx, WriteMode dx_mode,  // (N, C, H, W)
                   Tensor<T, Cpu>& dw1, Tensor<T, Cpu>& dw2, Tensor<T, Cpu>& dws, Tensor<T, Cpu>& dbs,
                   WriteMode param_mode) {
  const Shape& sx = x.shape();
  const int64_t nn = sx.n(), c = sx.c(), hh = sx.h(), ww = sx.w(), hw = hh * ww;
  const int hd = static_cast<int>(w1.shape()[0]);
  // dl = m (1 - m) sum_c dy_c y'_c per pixel.
  std::vector<double> dl(static_cast<size_t>(nn * hw));
  parallel_for(
      nn * hh,
      [&](int64_t task) {
        const int64_t n = task / hh, i0 = (task % hh) * ww;
        double* d = dl.data() + n * hw + i0;
        std::fill(d, d + ww, 0.0);
        for (int64_t k = 0; k < c; ++k) {
          const T* p = x.sample(n) + k * hw + i0;
          const T* g = dy.sample(n) + k * hw + i0;
          const T a = sv.scale[n * c + k];
          for (int64_t j = 0; j < ww; ++j) d[j] += static_cast<double>(g[j]) * static_cast<double>(p[j] * a);
        }
        const T* m = sv.gate.sample(n) + i0;
        for (int64_t j = 0; j < ww; ++j) {
          const double mj = static_cast<double>(m[j]);
          d[j] *= mj * (1.0 - mj);
        }
      },
      c * ww);
  // Spatial conv parameters.
  std::vector<double> gws(kCbamTaps);
  parallel_for(
      kCbamTaps,
      [&](int64_t tap) {
        double g = 0;
        for (int64_t n = 0; n < nn; ++n) {
          const double* d = dl.data() + n * hw;
          const T* pooled = sv.pooled.sample(n);
          for (int64_t i = 0; i < hh; ++i)
            for (int64_t j = 0; j < ww; ++j)
              g += cbam_spatial_weight_term<double>(d, pooled, static_cast<int>(hh), static_cast<int>(ww),
                                                    static_cast<int>(tap), static_cast<int>(i), static_cast<int>(j));
        }
        gws[static_cast<size_t>(tap)] = g;
      },
      nn * hw);
  for (int t = 0; t < kCbamTaps; ++t) write(dws[t], static_cast<T>(gws[static_cast<size_t>(t)]), param_mode);
  double gb = 0;
  for (double v : dl) gb += v;
  write(dbs[0], static_cast<T>(gb), param_mode);
  // dP per pixel (mean plane, max plane).
  std::vector<double> dp(static_cast<size_t>(nn * 2 * hw));
  parallel_for(
      nn * 2 * hh,
      [&](int64_t task) {
        const int64_t n = task / (2 * hh), k = (task / hh) % 2, i = task % hh;
        const double* d = dl.data() + n * hw;
        double* out = dp.data() + (n * 2 + k) * hw + i * ww;
        for (int64_t j = 0; j < ww; ++j)
          out[j] = cbam_spatial_input_grad<double>(d, static_cast<int>(hh), static_cast<int>(ww), static_cast<int>(k),
                                                   static_cast<int>(i), static_cast<int>(j), ws.data());
      },
      kCbamTaps * ww);
  // dy' = dy m + dP_0 / C + [c = argmax_c] dP_1, recomputed where needed.
  const double inv_c = 1.0 / static_cast<double>(c);
  const auto grad_scaled = [&](int64_t n, int64_t k, int64_t i, const T* g, const T* m, const int32_t* pidx) {
    const double* d0 = dp.data() + n * 2 * hw;
    double v = static_cast<double>(g[i]) * static_cast<double>(m[i]) + d0[i] * inv_c;
    if (pidx[i] == k) v += d0[hw + i];
    return v;
  };
  std::vector<double> da(static_cast<size_t>(nn * c));
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* p = x.sample(n) + k * hw;
        const T* g = dy.sample(n) + k * hw;
        const T* m = sv.gate.sample(n);
        const int32_t* pidx = sv.pooled_index.sample(n);
        double acc = 0;
        for (int64_t i = 0; i < hw; ++i) acc += grad_scaled(n, k, i, g, m, pidx) * static_cast<double>(p[i]);
        da[static_cast<size_t>(plane)] = acc;
      },
      hw);
  // Channel MLP backward per sample.
  std::vector<double> dz(static_cast<size_t>(nn * c)), dha(static_cast<size_t>(nn * hd)),
      dhm(static_cast<size_t>(nn * hd)), davg(static_cast<size_t>(nn * c)), dmx(static_cast<size_t>(nn * c));
  const int ci = static_cast<int>(c);
  for (int64_t n = 0; n < nn; ++n) {
    for (int k = 0; k < ci; ++k) {
      const double a = static_cast<double>(sv.scale[n * c + k]);
      dz[static_cast<size_t>(n * c + k)] = da[static_cast<size_t>(n * c + k)] * a * (1.0 - a);
    }
    for (int j = 0; j < hd; ++j) {
      const double g = transpose_out<double>(w2.data(), dz.data() + n * c, ci, hd, j);
      dha[static_cast<size_t>(n * hd + j)] = sv.hidden_avg[n * hd + j] > T(0) ? g : 0.0;
      dhm[static_cast<size_t>(n * hd + j)] = sv.hidden_max[n * hd + j] > T(0) ? g : 0.0;
    }
    for (int k = 0; k < ci; ++k) {
      davg[static_cast<size_t>(n * c + k)] = transpose_out<double>(w1.data(), dha.data() + n * hd, hd, ci, k);
      dmx[static_cast<size_t>(n * c + k)] = transpose_out<double>(w1.data(), dhm.data() + n * hd, hd, ci, k);
    }
  }
  for (int k = 0; k < ci; ++k)
    for (int j = 0; j < hd; ++j) {
      const double g = batch_outer<double>(dz.data(), sv.hidden_avg.data(), nn, ci, hd, k, j) +
                       batch_outer<double>(dz.data(), sv.hidden_max.data(), nn, ci, hd, k, j);
      write(dw2[k * hd + j], static_cast<T>(g), param_mode);
    }
  for (int j = 0; j < hd; ++j)
    for (int k = 0; k < ci; ++k) {
      const double g = batch_outer<double>(dha.data(), sv.avg.data(), nn, hd, ci, j, k) +
                       batch_outer<double>(dhm.data(), sv.max.data(), nn, hd, ci, j, k);
      write(dw1[j * c + k], static_cast<T>(g), param_mode);
    }
  // dx = dy' a + davg / (H W) + [hw = argmax] dmax
  const bool acc = dx_mode == WriteMode::Accumulate;
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* g = dy.sample(n) + k * hw;
        const T* m = sv.gate.sample(n);
        const int32_t* pidx = sv.pooled_index.sample(n);
        T* d = dx.sample(n) + k * hw;
        const double a = static_cast<double>(sv.scale[plane]);
        const double shift = davg[static_cast<size_t>(plane)] / static_cast<double>(hw);
        const int64_t at = sv.max_index[plane];
        for (int64_t i = 0; i < hw; ++i) {
          double v = grad_scaled(n, k, i, g, m, pidx) * a + shift;
          if (i == at) v += dmx[static_cast<size_t>(plane)];
          d[i] = acc ? d[i] + static_cast<T>(v) : static_cast<T>(v);
        }
      },
      hw);
}

SRMDS_CPU_INSTANTIATE(cbam_forward)
SRMDS_CPU_INSTANTIATE(cbam_backward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
