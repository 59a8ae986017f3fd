// Winograd F(2x2, 3x3) convolution kernel, one variant per ISA level (see
// include/srmds/cpu/conv2d_winograd.hpp for the math, src/cpu/variant.hpp). The shapes are checked
// by the entry point (src/cpu/dispatch/entries.cpp); conv2d_forward_with (conv2d.cpp) calls it directly.
// The transforms, shared with the bf16 kernel: winograd2_common.hpp.
#include "variant.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>

#include "band_loop.hpp"
#include "srmds/core/tensor.hpp"
#include "winograd2_common.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace detail {

// U (16, Cout, Cin) from w (Cout, Cin, 3, 3) (contiguous per output channel, w.sample(o)).
template <class T>
void winograd_weights(const Tensor<T, Cpu>& w, T* u) {
  const int64_t cout = w.shape()[0], cin = w.shape()[1], plane = cout * cin;
#pragma omp parallel for schedule(static) if (plane > 4096)
  for (int64_t oc = 0; oc < plane; ++oc) {
    double r[16];
    winograd2_filter(w.sample(oc / cin) + (oc % cin) * 9, r);
    for (int k = 0; k < 16; ++k) u[k * plane + oc] = static_cast<T>(r[k]);
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
  const int64_t wp = 2 * tw + 2;  // a transformed input row: column j for image column j - 1
  const int64_t per_thread = 16 * (Cin + Cout) * max_t + 8 * wp;
  detail::ThreadScratch<T> scratch(threads, per_thread);

  auto run_band = [&](int64_t unit, T* buf) {
    const int64_t n = unit / bands_per_sample, b = unit % bands_per_sample;
    const int64_t tr0 = b * band_rows, tr1 = std::min(th, tr0 + band_rows), nt = (tr1 - tr0) * per_row;
    T* v = buf;                    // (16, Cin, nt)
    T* m = v + 16 * Cin * nt;      // (16, Cout, nt)
    T* pad = m + 16 * Cout * nt;   // W zeros for the input transform, then 2 output rows of 2 tw
    T* e = pad + 4 * wp;           // B^T applied to 4 input rows
    const T* xn = x.sample(n);
    std::fill(pad, pad + W, T(0));
    // Input transform, vectorised along the row: e = B^T (4 rows), then per tile e B.
    for (int64_t c = 0; c < Cin; ++c) {
      for (int64_t tr = tr0; tr < tr1; ++tr) {
        detail::winograd2_input_rows(xn + c * HW, H, W, tr, wp, pad, e);
        const int64_t t0 = (tr - tr0) * per_row;
        for (int i = 0; i < 4; ++i) {
          const T* ei = e + i * wp;
          T* v0 = v + ((i * 4 + 0) * Cin + c) * nt + t0;
          T* v1 = v + ((i * 4 + 1) * Cin + c) * nt + t0;
          T* v2 = v + ((i * 4 + 2) * Cin + c) * nt + t0;
          T* v3 = v + ((i * 4 + 3) * Cin + c) * nt + t0;
#pragma omp simd
          for (int64_t tc = 0; tc < tw; ++tc)
            detail::winograd2_bt(ei[2 * tc], ei[2 * tc + 1], ei[2 * tc + 2], ei[2 * tc + 3], v0[tc], v1[tc], v2[tc],
                                 v3[tc]);
        }
      }
    }
    // One GEMM per position of the 4x4.
    for (int k = 0; k < 16; ++k) {
      Eigen::Map<RowMat> mk(m + k * Cout * nt, Cout, nt);
      mk.noalias() = Eigen::Map<const RowMat>(u + k * Cout * Cin, Cout, Cin) *
                     Eigen::Map<const RowMat>(v + k * Cin * nt, Cin, nt);
    }
    // Output transform, y = A^T M A + b.
    T* yn = y.sample(n);
    for (int64_t o = 0; o < Cout; ++o) {
      const T bo = bias ? (*bias)[o] : T(0);
      for (int64_t tr = tr0; tr < tr1; ++tr) {
        const T* mk[16];
        for (int k = 0; k < 16; ++k) mk[k] = m + (k * Cout + o) * nt + (tr - tr0) * per_row;
        detail::winograd2_output_rows(mk, H, W, tr, bo, yn + o * HW, pad);
      }
    }
  };
  detail::for_each_band(units, threads, scratch.get(0), per_thread, run_band);
}

SRMDS_CPU_INSTANTIATE(conv2d_winograd3x3)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
