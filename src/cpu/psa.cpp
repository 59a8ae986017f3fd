// PSA kernels, one variant per ISA level (see include/srmds/cpu/psa.hpp, src/cpu/variant.hpp).
#include "srmds/ops/math/psa.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "srmds/cpu/parallel.hpp"
#include "srmds/ops/attention_state.hpp"
#include "srmds/ops/math/attention.hpp"
#include "srmds/ops/math/sigmoid.hpp"
#include "variant.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void psa_forward(const Tensor<T, Cpu>& x,                         // (N, C, H, W)
                 const PsaWeights<T, Cpu>& p, Tensor<T, Cpu>& y,  // (N, C, H, W), may be x
                 PsaSaved<T, Cpu>& sv) {
  const Shape& sx = x.shape();
  const int64_t nn = sx.n(), c = sx.c(), hh = sx.h(), ww = sx.w(), hw = hh * ww;
  const int ci = static_cast<int>(c), ch = ci / 2;
  const T* wq = p.ch_wq_weight->data();
  const double bq = static_cast<double>((*p.ch_wq_bias)[0]);
  // Channel-branch logits per pixel, then softmax over H, W per sample.
  std::vector<double> logit(static_cast<size_t>(nn * hw));
  parallel_for(
      nn * hh,
      [&](int64_t task) {
        const int64_t n = task / hh, i0 = (task % hh) * ww;
        double* l = logit.data() + n * hw + i0;
        std::fill(l, l + ww, bq);
        for (int64_t k = 0; k < c; ++k) {
          const T* px = x.sample(n) + k * hw + i0;
          const double wk = static_cast<double>(wq[k]);
          for (int64_t j = 0; j < ww; ++j) l[j] += wk * static_cast<double>(px[j]);
        }
      },
      c * ww);
  parallel_for(
      nn,
      [&](int64_t n) {
        const double* l = logit.data() + n * hw;
        double vmax = 0, sum = 0;
        softmax_stats(l, static_cast<int>(hw), vmax, sum);
        T* q = sv.q.sample(n);
        for (int64_t i = 0; i < hw; ++i) q[i] = static_cast<T>(std::exp(l[i] - vmax) / sum);
      },
      hw);
  // yq = sum_hw x q and mean_hw x per plane.
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c;
        const T* px = x.sample(n) + (plane % c) * hw;
        const T* q = sv.q.sample(n);
        double a = 0, s = 0;
        for (int64_t i = 0; i < hw; ++i) {
          a += static_cast<double>(px[i]) * static_cast<double>(q[i]);
          s += static_cast<double>(px[i]);
        }
        sv.yq[plane] = static_cast<T>(a);
        sv.mean[plane] = static_cast<T>(s / static_cast<double>(hw));
      },
      hw);
  // Per-sample vector algebra.
  std::vector<double> u(static_cast<size_t>(nn * c)), b0(static_cast<size_t>(nn));
  std::vector<double> z(static_cast<size_t>(ch)), w(static_cast<size_t>(c)), r(static_cast<size_t>(ch));
  for (int64_t n = 0; n < nn; ++n) {
    const T* yq = sv.yq.data() + n * c;
    const T* mean = sv.mean.data() + n * c;
    for (int j = 0; j < ch; ++j) {
      z[static_cast<size_t>(j)] = affine_out<double>(p.ch_wv_weight->data(), p.ch_wv_bias->data(), yq, ci, j);
      sv.z[n * ch + j] = static_cast<T>(z[static_cast<size_t>(j)]);
    }
    for (int k = 0; k < ci; ++k)
      w[static_cast<size_t>(k)] = affine_out<double>(p.ch_wz_weight->data(), p.ch_wz_bias->data(), z.data(), ch, k);
    double mu = 0, rstd = 0;
    layer_norm_stats(w.data(), ci, kPsaLnEps, mu, rstd);
    sv.ln_rstd[n] = static_cast<T>(rstd);
    for (int k = 0; k < ci; ++k) {
      const double nk = (w[static_cast<size_t>(k)] - mu) * rstd;
      sv.ln_norm[n * c + k] = static_cast<T>(nk);
      const double l = nk * static_cast<double>((*p.ch_ln_weight)[k]) + static_cast<double>((*p.ch_ln_bias)[k]);
      sv.scale[n * c + k] = static_cast<T>(sigmoid_of(l));
    }
    for (int j = 0; j < ch; ++j)
      r[static_cast<size_t>(j)] = affine_out<double>(p.sp_wq_weight->data(), p.sp_wq_bias->data(), mean, ci, j);
    double rmax = 0, rsum = 0;
    softmax_stats(r.data(), ch, rmax, rsum);
    double beta = 0;
    for (int j = 0; j < ch; ++j) {
      r[static_cast<size_t>(j)] = std::exp(r[static_cast<size_t>(j)] - rmax) / rsum;
      sv.sq[n * ch + j] = static_cast<T>(r[static_cast<size_t>(j)]);
      beta += r[static_cast<size_t>(j)] * static_cast<double>((*p.sp_wv_bias)[j]);
    }
    b0[static_cast<size_t>(n)] = beta;
    for (int k = 0; k < ci; ++k) {
      const double uk = transpose_out<double>(p.sp_wv_weight->data(), r.data(), ch, ci, k);
      u[static_cast<size_t>(n * c + k)] = uk;
      sv.u[n * c + k] = static_cast<T>(uk);
    }
  }
  // Spatial gate per pixel, then y = x a + x m.
  parallel_for(
      nn * hh,
      [&](int64_t task) {
        const int64_t n = task / hh, i0 = (task % hh) * ww;
        std::vector<double> s(static_cast<size_t>(ww), b0[static_cast<size_t>(n)]);
        for (int64_t k = 0; k < c; ++k) {
          const T* px = x.sample(n) + k * hw + i0;
          const double uk = u[static_cast<size_t>(n * c + k)];
          for (int64_t j = 0; j < ww; ++j) s[static_cast<size_t>(j)] += uk * static_cast<double>(px[j]);
        }
        T* m = sv.gate.sample(n) + i0;
        for (int64_t j = 0; j < ww; ++j) m[j] = static_cast<T>(sigmoid_of(s[static_cast<size_t>(j)]));
      },
      c * ww);
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* px = x.sample(n) + k * hw;
        const T* m = sv.gate.sample(n);
        T* out = y.sample(n) + k * hw;
        const T a = sv.scale[plane];
        for (int64_t i = 0; i < hw; ++i) out[i] = px[i] * a + px[i] * m[i];
      },
      hw);
}

template <class T>
void psa_backward(const Tensor<T, Cpu>& x,   // (N, C, H, W) forward input
                  const Tensor<T, Cpu>& dy,  // (N, C, H, W)
                  const PsaWeights<T, Cpu>& p, const PsaSaved<T, Cpu>& sv, Tensor<T, Cpu>& dx,
                  WriteMode dx_mode,  // (N, C, H, W)
                  const PsaGrads<T, Cpu>& g, WriteMode param_mode) {
  const Shape& sx = x.shape();
  const int64_t nn = sx.n(), c = sx.c(), hh = sx.h(), ww = sx.w(), hw = hh * ww;
  const int ci = static_cast<int>(c), ch = ci / 2;
  // ds = m (1 - m) sum_c dy_c x_c per pixel.
  std::vector<double> ds(static_cast<size_t>(nn * hw));
  parallel_for(
      nn * hh,
      [&](int64_t task) {
        const int64_t n = task / hh, i0 = (task % hh) * ww;
        double* d = ds.data() + n * hw + i0;
        std::fill(d, d + ww, 0.0);
        for (int64_t k = 0; k < c; ++k) {
          const T* px = x.sample(n) + k * hw + i0;
          const T* gy = dy.sample(n) + k * hw + i0;
          for (int64_t j = 0; j < ww; ++j) d[j] += static_cast<double>(gy[j]) * static_cast<double>(px[j]);
        }
        const T* m = sv.gate.sample(n) + i0;
        for (int64_t j = 0; j < ww; ++j) {
          const double mj = static_cast<double>(m[j]);
          d[j] *= mj * (1.0 - mj);
        }
      },
      c * ww);
  // da = sum_hw dy x, du = sum_hw ds x per plane; db0 = sum_hw ds per sample.
  std::vector<double> da(static_cast<size_t>(nn * c)), du(static_cast<size_t>(nn * c)), db0(static_cast<size_t>(nn));
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* px = x.sample(n) + k * hw;
        const T* gy = dy.sample(n) + k * hw;
        const double* d = ds.data() + n * hw;
        double a = 0, b = 0;
        for (int64_t i = 0; i < hw; ++i) {
          a += static_cast<double>(gy[i]) * static_cast<double>(px[i]);
          b += d[i] * static_cast<double>(px[i]);
        }
        da[static_cast<size_t>(plane)] = a;
        du[static_cast<size_t>(plane)] = b;
      },
      hw);
  for (int64_t n = 0; n < nn; ++n) {
    double s = 0;
    for (int64_t i = 0; i < hw; ++i) s += ds[static_cast<size_t>(n * hw + i)];
    db0[static_cast<size_t>(n)] = s;
  }
  // Per-sample vector algebra.
  std::vector<double> dl(static_cast<size_t>(nn * c)), dw(static_cast<size_t>(nn * c)),
      dz(static_cast<size_t>(nn * ch)), dyq(static_cast<size_t>(nn * c)), dr(static_cast<size_t>(nn * ch)),
      dmean(static_cast<size_t>(nn * c));
  std::vector<double> dn(static_cast<size_t>(c)), dsq(static_cast<size_t>(ch));
  for (int64_t n = 0; n < nn; ++n) {
    double m1 = 0, m2 = 0;
    for (int k = 0; k < ci; ++k) {
      const double a = static_cast<double>(sv.scale[n * c + k]);
      const double l = da[static_cast<size_t>(n * c + k)] * a * (1.0 - a);
      dl[static_cast<size_t>(n * c + k)] = l;
      dn[static_cast<size_t>(k)] = l * static_cast<double>((*p.ch_ln_weight)[k]);
      m1 += dn[static_cast<size_t>(k)];
      m2 += dn[static_cast<size_t>(k)] * static_cast<double>(sv.ln_norm[n * c + k]);
    }
    m1 /= static_cast<double>(c);
    m2 /= static_cast<double>(c);
    const double rstd = static_cast<double>(sv.ln_rstd[n]);
    for (int k = 0; k < ci; ++k)
      dw[static_cast<size_t>(n * c + k)] =
          layer_norm_input_grad(dn[static_cast<size_t>(k)], static_cast<double>(sv.ln_norm[n * c + k]), m1, m2, rstd);
    for (int j = 0; j < ch; ++j)
      dz[static_cast<size_t>(n * ch + j)] = transpose_out<double>(p.ch_wz_weight->data(), dw.data() + n * c, ci, ch, j);
    for (int k = 0; k < ci; ++k)
      dyq[static_cast<size_t>(n * c + k)] =
          transpose_out<double>(p.ch_wv_weight->data(), dz.data() + n * ch, ch, ci, k);
    const T* no_bias = nullptr;
    double dot = 0;
    for (int j = 0; j < ch; ++j) {
      dsq[static_cast<size_t>(j)] = affine_out<double>(p.sp_wv_weight->data(), no_bias, du.data() + n * c, ci, j) +
                                    static_cast<double>((*p.sp_wv_bias)[j]) * db0[static_cast<size_t>(n)];
      dot += static_cast<double>(sv.sq[n * ch + j]) * dsq[static_cast<size_t>(j)];
    }
    for (int j = 0; j < ch; ++j)
      dr[static_cast<size_t>(n * ch + j)] =
          static_cast<double>(sv.sq[n * ch + j]) * (dsq[static_cast<size_t>(j)] - dot);
    for (int k = 0; k < ci; ++k)
      dmean[static_cast<size_t>(n * c + k)] =
          transpose_out<double>(p.sp_wq_weight->data(), dr.data() + n * ch, ch, ci, k);
  }
  // dql = q (dq - q . dq), dq = sum_c dyq_c x_c per pixel.
  std::vector<double> dql(static_cast<size_t>(nn * hw));
  parallel_for(
      nn * hh,
      [&](int64_t task) {
        const int64_t n = task / hh, i0 = (task % hh) * ww;
        double* d = dql.data() + n * hw + i0;
        std::fill(d, d + ww, 0.0);
        for (int64_t k = 0; k < c; ++k) {
          const T* px = x.sample(n) + k * hw + i0;
          const double gk = dyq[static_cast<size_t>(n * c + k)];
          for (int64_t j = 0; j < ww; ++j) d[j] += gk * static_cast<double>(px[j]);
        }
      },
      c * ww);
  std::vector<double> dbq(static_cast<size_t>(nn));
  parallel_for(
      nn,
      [&](int64_t n) {
        const T* q = sv.q.sample(n);
        double* d = dql.data() + n * hw;
        double dot = 0;
        for (int64_t i = 0; i < hw; ++i) dot += static_cast<double>(q[i]) * d[i];
        double sum = 0;
        for (int64_t i = 0; i < hw; ++i) {
          d[i] = static_cast<double>(q[i]) * (d[i] - dot);
          sum += d[i];
        }
        dbq[static_cast<size_t>(n)] = sum;
      },
      hw);
  std::vector<double> gq(static_cast<size_t>(nn * c));
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c;
        const T* px = x.sample(n) + (plane % c) * hw;
        const double* d = dql.data() + n * hw;
        double a = 0;
        for (int64_t i = 0; i < hw; ++i) a += d[i] * static_cast<double>(px[i]);
        gq[static_cast<size_t>(plane)] = a;
      },
      hw);
  // Parameter gradients.
  const auto put = [&](Tensor<T, Cpu>* t, int64_t i, double v) { write((*t)[i], static_cast<T>(v), param_mode); };
  const double* none = nullptr;
  for (int k = 0; k < ci; ++k) {
    put(g.ch_ln_weight, k, batch_outer<double>(dl.data(), sv.ln_norm.data(), nn, ci, ci, k, k));
    put(g.ch_ln_bias, k, batch_outer<double>(dl.data(), none, nn, ci, 1, k, 0));
    put(g.ch_wz_bias, k, batch_outer<double>(dw.data(), none, nn, ci, 1, k, 0));
    put(g.ch_wq_weight, k, batch_outer<double>(gq.data(), none, nn, ci, 1, k, 0));
    for (int j = 0; j < ch; ++j)
      put(g.ch_wz_weight, k * ch + j, batch_outer<double>(dw.data(), sv.z.data(), nn, ci, ch, k, j));
  }
  put(g.ch_wq_bias, 0, batch_outer<double>(dbq.data(), none, nn, 1, 1, 0, 0));
  for (int j = 0; j < ch; ++j) {
    put(g.ch_wv_bias, j, batch_outer<double>(dz.data(), none, nn, ch, 1, j, 0));
    put(g.sp_wv_bias, j, batch_outer<double>(sv.sq.data(), db0.data(), nn, ch, 1, j, 0));
    put(g.sp_wq_bias, j, batch_outer<double>(dr.data(), none, nn, ch, 1, j, 0));
    for (int k = 0; k < ci; ++k) {
      put(g.ch_wv_weight, j * c + k, batch_outer<double>(dz.data(), sv.yq.data(), nn, ch, ci, j, k));
      put(g.sp_wv_weight, j * c + k, batch_outer<double>(sv.sq.data(), du.data(), nn, ch, ci, j, k));
      put(g.sp_wq_weight, j * c + k, batch_outer<double>(dr.data(), sv.mean.data(), nn, ch, ci, j, k));
    }
  }
  // dx = dy (a + m) + ds u + dmean / M + dyq q + dql Wq
  const bool acc = dx_mode == WriteMode::Accumulate;
  const T* wq = p.ch_wq_weight->data();
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* gy = dy.sample(n) + k * hw;
        const T* m = sv.gate.sample(n);
        const T* q = sv.q.sample(n);
        const double* s = ds.data() + n * hw;
        const double* d = dql.data() + n * hw;
        const double a = static_cast<double>(sv.scale[plane]), uk = static_cast<double>(sv.u[plane]);
        const double shift = dmean[static_cast<size_t>(plane)] / static_cast<double>(hw);
        const double gk = dyq[static_cast<size_t>(plane)], wk = static_cast<double>(wq[k]);
        T* out = dx.sample(n) + k * hw;
        for (int64_t i = 0; i < hw; ++i) {
          const double v = static_cast<double>(gy[i]) * (a + static_cast<double>(m[i])) + s[i] * uk + shift +
                           gk * static_cast<double>(q[i]) + d[i] * wk;
          out[i] = acc ? out[i] + static_cast<T>(v) : static_cast<T>(v);
        }
      },
      hw);
}

SRMDS_CPU_INSTANTIATE(psa_forward)
SRMDS_CPU_INSTANTIATE(psa_backward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
