// 2-D convolution kernels, one variant per ISA level (see include/srmds/cpu/conv2d.hpp for the
// math, src/cpu/variant.hpp): each pass by the algorithm it is given (im2col here, Winograd F(2x2)
// in conv2d_winograd.cpp, F(4x4) in conv2d_winograd4.cpp and, for the filter gradient,
// conv2d_branches.cpp); the entry points choose it (cpu/conv2d_algo.hpp).
#include "variant.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "conv2d_im2col.hpp"
#include "srmds/core/device.hpp"
#include "srmds/core/tensor.hpp"
#include "srmds/cpu/conv2d_algo.hpp"
#include "srmds/cpu/conv2d_branches.hpp"
#include "srmds/cpu/conv2d_winograd.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

// In conv2d_winograd.cpp (the same variant).
template <class T>
void conv2d_winograd3x3(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w,
                        const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias, Tensor<T, Cpu>& y);
// In conv2d_winograd4.cpp (the same variant): y = conv(x, w) + b, or y += that with accumulate.
template <class T>
void winograd4_conv(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const T* b, Tensor<T, Cpu>& y,
                    bool accumulate);
// In conv2d_branches.cpp (the same variant): dw_b (+)= the filter gradients, dw_b contiguous.
template <class T>
void conv2d_branches_winograd_backward_filter(const Tensor<T, Cpu>& x, const std::vector<const Tensor<T, Cpu>*>& dy,
                                              const std::vector<Tensor<T, Cpu>*>& dw, bool accumulate);

namespace detail {

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using StridedMap = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using ConstStridedMap = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;

// The weight as a contiguous (Cout, Cin*kh*kw) matrix: w itself, or a packed copy of a view.
template <class T>
class WeightMatrix {
public:
  explicit WeightMatrix(const Tensor<T, Cpu>& w) {
    if (w.is_contiguous()) {
      m_data = w.data();
      return;
    }
    m_copy = host_buffer(static_cast<size_t>(w.numel()) * sizeof(T));
    T* dst = static_cast<T*>(m_copy.get());
    const int64_t len = w.sample_numel();
    for (int64_t o = 0; o < w.shape().n(); ++o) std::copy(w.sample(o), w.sample(o) + len, dst + o * len);
    m_data = dst;
  }
  const T* data() const { return m_data; }

private:
  Buffer m_copy;
  const T* m_data = nullptr;
};

// y (+)= conv(x, wmat) [+ bias], wmat (Cout, Cin*kh*kw) row-major, over row bands (see
// plan_row_tiles for tile_bytes and min_band_cols).
template <class T>
void conv2d_banded(const Tensor<T, Cpu>& x,  // (N, Cin, H, W)
                   const T* wmat, int kh, int kw,
                   const T* bias,      // (Cout) or nullptr
                   Tensor<T, Cpu>& y,  // (N, Cout, H, W)
                   bool accumulate, int64_t tile_bytes = kConvTileBytes,
                   int64_t min_band_cols = kConvMinBandCols) {
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = y.shape().c();
  const int64_t K = Cin * kh * kw, HW = H * W;
  if (N == 0 || HW == 0 || Cout == 0) return;
  const bool direct = kh == 1 && kw == 1;
  const RowTiling tiling = plan_row_tiles(N, H, W, K * W * static_cast<int64_t>(sizeof(T)), tile_bytes,
                                          min_band_cols, conv_max_threads());
  const int64_t per_thread = direct ? 0 : tiling.rows * W * K;
  ThreadScratch<T> scratch(direct ? 0 : tiling.threads, per_thread);
  const Eigen::Map<const RowMat<T>> wm(wmat, Cout, K);

  auto run_band = [&](int64_t u, T* col) {
    int64_t n, r0, r1;
    tiling.band(u, H, n, r0, r1);
    const int64_t cols = (r1 - r0) * W;
    StridedMap<T> yb(y.sample(n) + r0 * W, Cout, cols, Eigen::OuterStride<>(HW));
    auto gemm = [&](const auto& rhs) {
      if (accumulate)
        yb.noalias() += wm * rhs;
      else
        yb.noalias() = wm * rhs;
    };
    if (direct) {
      gemm(ConstStridedMap<T>(x.sample(n) + r0 * W, Cin, cols, Eigen::OuterStride<>(HW)));
    } else {
      im2col_rows(x.sample(n), Cin, H, W, kh, kw, r0, r1, col);
      gemm(Eigen::Map<const RowMat<T>>(col, K, cols));
    }
    if (bias)
      for (int64_t o = 0; o < Cout; ++o) yb.row(o).array() += bias[o];
  };
  for_each_band(tiling.units, tiling.threads, scratch.get(0), per_thread, run_band);
}

// dWmat (+)= sum_{n, bands} dy[:, band] * im2col(x)[:, band]^T, dWmat (Cout, Cin*kh*kw) row-major.
template <class T>
void conv2d_filter_banded(const Tensor<T, Cpu>& x,   // (N, Cin, H, W)
                          const Tensor<T, Cpu>& dy,  // (N, Cout, H, W)
                          int kh, int kw,
                          T* dwmat,  // (Cout, Cin*kh*kw), contiguous
                          bool accumulate, int64_t tile_bytes = kConvTileBytes,
                          int64_t min_band_cols = kConvMinBandCols) {
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = dy.shape().c();
  const int64_t K = Cin * kh * kw, HW = H * W;
  Eigen::Map<RowMat<T>> dw(dwmat, Cout, K);
  if (!accumulate) dw.setZero();
  if (N == 0 || HW == 0 || Cout == 0 || K == 0) return;
  const bool direct = kh == 1 && kw == 1;
  const RowTiling tiling = plan_row_tiles(N, H, W, K * W * static_cast<int64_t>(sizeof(T)), tile_bytes,
                                          min_band_cols, conv_max_threads());
  const int64_t per_thread = direct ? 0 : tiling.rows * W * K;
  ThreadScratch<T> scratch(direct ? 0 : tiling.threads, per_thread);
  auto sum_band = [&](int64_t u, T* col, T* acc_data) {
    Eigen::Map<RowMat<T>> acc(acc_data, Cout, K);
    int64_t n, r0, r1;
    tiling.band(u, H, n, r0, r1);
    const int64_t cols = (r1 - r0) * W;
    const ConstStridedMap<T> dyb(dy.sample(n) + r0 * W, Cout, cols, Eigen::OuterStride<>(HW));
    if (direct) {
      acc.noalias() += dyb * ConstStridedMap<T>(x.sample(n) + r0 * W, Cin, cols, Eigen::OuterStride<>(HW)).transpose();
    } else {
      im2col_rows(x.sample(n), Cin, H, W, kh, kw, r0, r1, col);
      acc.noalias() += dyb * Eigen::Map<const RowMat<T>>(col, K, cols).transpose();
    }
  };
  sum_over_bands(tiling.units, tiling.threads, scratch.get(0), per_thread, Cout * K, dwmat, sum_band);
}

}  // namespace detail

// The algorithms; which one runs is chosen by the entry points (src/cpu/dispatch/conv2d.cpp, from
// the lists of cpu/conv2d_algo.hpp), which pass only one that runs the problem.
template <class T>
void conv2d_forward_with(ConvAlgo algo,
                         const Tensor<T, Cpu>& x,     // (N, Cin, H, W)
                         const Tensor<T, Cpu>& w,     // (Cout, Cin, kh, kw)
                         const Tensor<T, Cpu>* bias,  // (Cout) or nullptr
                         Tensor<T, Cpu>& y) {         // (N, Cout, H, W)
  if (algo == ConvAlgo::WinogradF4x4) {
    winograd4_conv(x, w, bias ? bias->data() : nullptr, y, false);
  } else if (algo == ConvAlgo::WinogradF2x2) {
    conv2d_winograd3x3(x, w, bias, y);
  } else {
    const detail::WeightMatrix<T> wm(w);
    detail::conv2d_banded(x, wm.data(), static_cast<int>(w.shape()[2]), static_cast<int>(w.shape()[3]),
                          bias ? bias->data() : nullptr, y, false);
  }
}

template <class T>
void conv2d_backward_data_with(ConvAlgo algo,
                               const Tensor<T, Cpu>& dy,  // (N, Cout, H, W)
                               const Tensor<T, Cpu>& w,   // (Cout, Cin, kh, kw)
                               Tensor<T, Cpu>& dx,        // (N, Cin, H, W)
                               WriteMode mode) {
  const Shape& ws = w.shape();
  const int64_t Cout = ws[0], Cin = ws[1], kh = ws[2], kw = ws[3];
  // w'[c, o, p, q] = w[o, c, kh-1-p, kw-1-q]: dx = conv(dy, w').
  Tensor<T, Cpu> wt(Shape{Cin, Cout, kh, kw});
  for (int64_t o = 0; o < Cout; ++o)
    for (int64_t c = 0; c < Cin; ++c)
      for (int64_t p = 0; p < kh; ++p)
        for (int64_t q = 0; q < kw; ++q)
          wt.sample(c)[(o * kh + (kh - 1 - p)) * kw + (kw - 1 - q)] = w.sample(o)[(c * kh + p) * kw + q];
  const bool accumulate = mode == WriteMode::Accumulate;
  if (algo == ConvAlgo::WinogradF4x4)
    winograd4_conv(dy, wt, static_cast<const T*>(nullptr), dx, accumulate);
  else
    detail::conv2d_banded(dy, wt.data(), static_cast<int>(kh), static_cast<int>(kw), static_cast<const T*>(nullptr),
                          dx, accumulate);
}

// The F(4x4) filter gradient is the shared branches pass with one branch (conv2d_branches.cpp).
template <class T>
void conv2d_backward_filter_with(ConvAlgo algo,
                                 const Tensor<T, Cpu>& x,   // (N, Cin, H, W)
                                 const Tensor<T, Cpu>& dy,  // (N, Cout, H, W)
                                 Tensor<T, Cpu>& dw,        // (Cout, Cin, kh, kw)
                                 WriteMode mode) {
  const int kh = static_cast<int>(dw.shape()[2]), kw = static_cast<int>(dw.shape()[3]);
  // A strided view of a weight gradient is computed contiguously, then written row by row.
  Tensor<T, Cpu> tmp;
  Tensor<T, Cpu>* out = &dw;
  if (!dw.is_contiguous()) {
    tmp = Tensor<T, Cpu>(dw.shape());
    out = &tmp;
  }
  const bool accumulate = out == &dw && mode == WriteMode::Accumulate;
  if (algo == ConvAlgo::WinogradF4x4)
    conv2d_branches_winograd_backward_filter<T>(x, {&dy}, {out}, accumulate);
  else
    detail::conv2d_filter_banded(x, dy, kh, kw, out->data(), accumulate);
  if (out == &dw) return;
  const int64_t len = dw.sample_numel();
  for (int64_t o = 0; o < dw.shape().n(); ++o)
    for (int64_t i = 0; i < len; ++i) write(dw.sample(o)[i], tmp.sample(o)[i], mode);
}

template <class T>
void conv2d_backward_bias(const Tensor<T, Cpu>& dy,  // (N, Cout, H, W)
                          Tensor<T, Cpu>& db,        // (Cout)
                          WriteMode mode) {
  const Shape& s = dy.shape();
  const int64_t N = s.n(), C = s.c(), HW = s.h() * s.w();
  parallel_for(
      C,
      [&](int64_t o) {
        double sum = 0;  // the sum over N*H*W can be long: accumulate in double
        for (int64_t n = 0; n < N; ++n) {
          const T* g = dy.sample(n) + o * HW;
#pragma omp simd reduction(+ : sum)
          for (int64_t i = 0; i < HW; ++i) sum += static_cast<double>(g[i]);
        }
        write(db[o], static_cast<T>(sum), mode);
      },
      N * HW);
}

SRMDS_CPU_INSTANTIATE(conv2d_forward_with)
SRMDS_CPU_INSTANTIATE(conv2d_backward_data_with)
SRMDS_CPU_INSTANTIATE(conv2d_backward_filter_with)
SRMDS_CPU_INSTANTIATE(conv2d_backward_bias)
namespace detail {
SRMDS_CPU_INSTANTIATE(conv2d_banded)
SRMDS_CPU_INSTANTIATE(conv2d_filter_banded)
}  // namespace detail

}  // namespace srmds::cpu::SRMDS_CPU_ISA
