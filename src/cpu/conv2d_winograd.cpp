// Winograd F(2x2, 3x3) convolution kernel, one variant per ISA level (see
// include/srmds/cpu/conv2d_winograd.hpp for the math, src/cpu/variant.hpp). The shapes are checked
// by the entry point (src/cpu/dispatch/entries.cpp); conv2d_forward (conv2d.cpp) calls it directly.
#include "variant.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>

#include "conv2d_im2col.hpp"
#include "srmds/core/tensor.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace detail {

// U (16, Cout, Cin) from w (Cout, Cin, 3, 3) (contiguous per output channel, w.sample(o)).
template <class T>
void winograd_weights(const Tensor<T, Cpu>& w, T* u) {
  const int64_t cout = w.shape()[0], cin = w.shape()[1], plane = cout * cin;
#pragma omp parallel for schedule(static) if (plane > 4096)
  for (int64_t oc = 0; oc < plane; ++oc) {
    const T* g = w.sample(oc / cin) + (oc % cin) * 9;
    double gg[4][3];  // G g
    for (int j = 0; j < 3; ++j) {
      const double a = g[j], b = g[3 + j], c = g[6 + j];
      gg[0][j] = a;
      gg[1][j] = 0.5 * (a + b + c);
      gg[2][j] = 0.5 * (a - b + c);
      gg[3][j] = c;
    }
    for (int i = 0; i < 4; ++i) {  // (G g) G^T
      const double a = gg[i][0], b = gg[i][1], c = gg[i][2];
      const double r[4] = {a, 0.5 * (a + b + c), 0.5 * (a - b + c), c};
      for (int j = 0; j < 4; ++j) u[(i * 4 + j) * plane + oc] = static_cast<T>(r[j]);
    }
  }
}

}  // namespace detail

template <class T>
void conv2d_winograd3x3(const Tensor<T, Cpu>& x,     // (N, Cin, H, W)
                        const Tensor<T, Cpu>& w,     // (Cout, Cin, 3, 3)
                        const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias,  // (Cout) or nullptr
                        Tensor<T, Cpu>& y) {         // (N, Cout, H, W)
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = w.shape()[0];
  if (N == 0 || H == 0 || W == 0 || Cout == 0) return;
  const int64_t HW = H * W, th = (H + 1) / 2, tw = (W + 1) / 2;  // tiles per column and row

  Buffer ubuf = host_buffer(static_cast<size_t>(16 * Cout * Cin) * sizeof(T));
  T* u = static_cast<T*>(ubuf.get());
  detail::winograd_weights(w, u);

  // Bands of tile rows: about 256 tiles per GEMM, but at least one band per thread. Threads work on
  // whole bands (Eigen's own GEMM threading spins and collapses on a loaded machine).
  const int64_t per_row = tw;
  const int max_threads = detail::conv_max_threads();
  int64_t band_rows = std::min(th, std::max<int64_t>(1, (256 + per_row - 1) / per_row));
  const int64_t want_bands = (max_threads + N - 1) / N;  // per sample
  band_rows = std::max<int64_t>(1, std::min(band_rows, (th + want_bands - 1) / want_bands));
  const int64_t bands_per_sample = (th + band_rows - 1) / band_rows, units = N * bands_per_sample;
  const int64_t max_t = band_rows * per_row;
  const int threads = static_cast<int>(std::min<int64_t>(units, max_threads));
  detail::ThreadScratch<T> scratch(threads, 16 * (Cin + Cout) * max_t + 8 * (2 * tw + 2));

  const int64_t wp = 2 * tw + 2;  // a padded row: column j holds image column j - 1

  auto run_band = [&](int64_t unit, T* buf) {
    const int64_t n = unit / bands_per_sample, b = unit % bands_per_sample;
    const int64_t tr0 = b * band_rows, tr1 = std::min(th, tr0 + band_rows), nt = (tr1 - tr0) * per_row;
    T* v = buf;                        // (16, Cin, nt)
    T* m = v + 16 * Cin * nt;          // (16, Cout, nt)
    T* pad = m + 16 * Cout * nt;       // 4 padded input rows, then B^T applied to them
    T* e = pad + 4 * wp;
    const T* xn = x.sample(n);
    // Input transform, vectorised along the row: e = B^T (4 padded rows), then per tile e B.
    for (int64_t c = 0; c < Cin; ++c) {
      const T* xc = xn + c * HW;
      for (int64_t tr = tr0; tr < tr1; ++tr) {
        for (int i = 0; i < 4; ++i) {
          T* row = pad + i * wp;
          const int64_t r = 2 * tr - 1 + i;
          std::fill(row, row + wp, T(0));
          if (r >= 0 && r < H) std::copy(xc + r * W, xc + r * W + W, row + 1);
        }
        const T *d0 = pad, *d1 = pad + wp, *d2 = pad + 2 * wp, *d3 = pad + 3 * wp;
        T *e0 = e, *e1 = e + wp, *e2 = e + 2 * wp, *e3 = e + 3 * wp;
#pragma omp simd
        for (int64_t j = 0; j < wp; ++j) {
          e0[j] = d0[j] - d2[j];
          e1[j] = d1[j] + d2[j];
          e2[j] = d2[j] - d1[j];
          e3[j] = d1[j] - d3[j];
        }
        const int64_t t0 = (tr - tr0) * per_row;
        for (int i = 0; i < 4; ++i) {
          const T* ei = e + i * wp;
          T* v0 = v + ((i * 4 + 0) * Cin + c) * nt + t0;
          T* v1 = v + ((i * 4 + 1) * Cin + c) * nt + t0;
          T* v2 = v + ((i * 4 + 2) * Cin + c) * nt + t0;
          T* v3 = v + ((i * 4 + 3) * Cin + c) * nt + t0;
#pragma omp simd
          for (int64_t tc = 0; tc < tw; ++tc) {
            const T a0 = ei[2 * tc], a1 = ei[2 * tc + 1], a2 = ei[2 * tc + 2], a3 = ei[2 * tc + 3];
            v0[tc] = a0 - a2;
            v1[tc] = a1 + a2;
            v2[tc] = a2 - a1;
            v3[tc] = a1 - a3;
          }
        }
      }
    }
    // One GEMM per position of the 4x4.
    for (int k = 0; k < 16; ++k) {
      Eigen::Map<RowMat> mk(m + k * Cout * nt, Cout, nt);
      mk.noalias() = Eigen::Map<const RowMat>(u + k * Cout * Cin, Cout, Cin) *
                     Eigen::Map<const RowMat>(v + k * Cin * nt, Cin, nt);
    }
    // Output transform: s = A^T M (rows), then y = s A (columns) + b, vectorised along tiles.
    T* yn = y.sample(n);
    T* out = pad;  // 2 output rows of 2 tw values
    for (int64_t o = 0; o < Cout; ++o) {
      const T bo = bias ? (*bias)[o] : T(0);
      T* yo = yn + o * HW;
      for (int64_t tr = tr0; tr < tr1; ++tr) {
        const int64_t t0 = (tr - tr0) * per_row;
        const T* mk[16];
        for (int k = 0; k < 16; ++k) mk[k] = m + (k * Cout + o) * nt + t0;
        T* out0 = out;
        T* out1 = out + 2 * tw;
#pragma omp simd
        for (int64_t tc = 0; tc < tw; ++tc) {
          T s0[4], s1[4];
          for (int j = 0; j < 4; ++j) {
            const T m0 = mk[j][tc], m1 = mk[4 + j][tc], m2 = mk[8 + j][tc], m3 = mk[12 + j][tc];
            s0[j] = m0 + m1 + m2;
            s1[j] = m1 - m2 - m3;
          }
          out0[2 * tc] = s0[0] + s0[1] + s0[2] + bo;
          out0[2 * tc + 1] = s0[1] - s0[2] - s0[3] + bo;
          out1[2 * tc] = s1[0] + s1[1] + s1[2] + bo;
          out1[2 * tc + 1] = s1[1] - s1[2] - s1[3] + bo;
        }
        std::copy(out0, out0 + W, yo + 2 * tr * W);
        if (2 * tr + 1 < H) std::copy(out1, out1 + W, yo + (2 * tr + 1) * W);
      }
    }
  };

  if (threads > 1) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t unit = 0; unit < units; ++unit) run_band(unit, scratch.get(detail::conv_thread_id()));
  } else {
    for (int64_t unit = 0; unit < units; ++unit) run_band(unit, scratch.get(0));
  }
}

SRMDS_CPU_INSTANTIATE(conv2d_winograd3x3)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
