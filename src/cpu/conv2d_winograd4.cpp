// Winograd F(4x4, 3x3) convolution with one kernel (several kernels on one input: conv2d_branches.cpp),
// one variant per ISA level (see include/srmds/cpu/conv2d_winograd.hpp for the math,
// src/cpu/variant.hpp). The shapes are checked by the entry point (src/cpu/dispatch/entries.cpp);
// conv2d_forward_with and conv2d_backward_data_with (conv2d.cpp) call it directly.
// Layout of one band (tile rows of one or more samples, nt tiles in all; winograd4_common.hpp):
//   v (36, Cin, nt) = B^T d B,  m (36, Cout, nt) = U_k v_k (one GEMM per k),  y = A^T m A + b.
// Two schedules (both with whole bands per thread):
//   whole weight: U (36, Cout, Cin) once, then every band (tile rows of one or more samples) with its
//     own v and m;
//   chunked (U above 16 MB, one sample's M within 24 MB: the deep layers): per sample, M (36, Cout,
//     tiles) accumulates over chunks of 128 input channels, U of a chunk shared by the bands. In the
//     fused network at 2 threads every allocation then stays below glibc's mmap threshold (dynamic,
//     at most 32 MB), so it reuses heap pages instead of faulting in fresh ones: a 75 MB U and 56 MB
//     of band scratch per call had cost ~30 % of the 1024 -> 512 layer at 64 x 64.
// The transforms and the bands: winograd4_common.hpp.
#include "variant.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>

#include "band_loop.hpp"
#include "srmds/core/tensor.hpp"
#include "winograd4_common.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

// Bytes of U above which the kernel works sample by sample over chunks of kChunk input channels
// instead of transforming the whole weight at once (when one sample's M fits kMaxSampleMBytes); see
// the top of this file.
constexpr int64_t kMaxFullWeightsBytes = int64_t(16) << 20;
constexpr int64_t kMaxSampleMBytes = int64_t(24) << 20;
constexpr int64_t kChunk = 128;

// y = conv(x, w) + b, or y += that with accumulate.
template <class T>
void winograd4_conv(const Tensor<T, Cpu>& x,  // (N, Cin, H, W)
                    const Tensor<T, Cpu>& w,  // (Cout, Cin, 3, 3)
                    const T* b,               // (Cout) or nullptr
                    Tensor<T, Cpu>& y,        // (N, Cout, H, W)
                    bool accumulate) {
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using StridedMap = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = w.shape()[0];
  if (N == 0 || H == 0 || W == 0 || Cout == 0) return;
  const int64_t th = (H + 3) / 4, tw = (W + 3) / 4, tiles = th * tw;  // tiles per column, row, sample
  const int max_threads = detail::conv_max_threads();
  const int64_t u_bytes = 36 * Cout * Cin * static_cast<int64_t>(sizeof(T));
  const int64_t m_bytes = 36 * Cout * tiles * static_cast<int64_t>(sizeof(T));

  if (u_bytes > kMaxFullWeightsBytes && m_bytes <= kMaxSampleMBytes && Cin > kChunk) {
    // Sample by sample: M (36, Cout, tiles) of the sample accumulates over chunks of input channels;
    // per chunk, U of the chunk (shared), then per band V of the chunk and its 36 GEMMs.
    const detail::Winograd4Bands bands(1, th, tw, max_threads);
    Buffer mbuf = host_buffer(static_cast<size_t>(36 * Cout * tiles) * sizeof(T));
    Buffer ubuf = host_buffer(static_cast<size_t>(36 * Cout * kChunk) * sizeof(T));
    T* m = static_cast<T*>(mbuf.get());
    T* u = static_cast<T*>(ubuf.get());
    const int64_t per_thread = 36 * kChunk * bands.max_tiles + detail::winograd4_work(tw, bands.max_tiles);
    detail::ThreadScratch<T> scratch(bands.threads, per_thread);
    for (int64_t n = 0; n < N; ++n) {
      const T* xn = x.sample(n);
      for (int64_t c0 = 0; c0 < Cin; c0 += kChunk) {
        const int64_t c1 = std::min(Cin, c0 + kChunk), cc = c1 - c0;
        detail::winograd4_weights(w, c0, c1, u);
        detail::for_each_band(bands.units, bands.threads, scratch.get(0), per_thread, [&](int64_t unit, T* v) {
          // v: (36, cc, nt)
          const int64_t tr0 = unit * bands.rows, tr1 = std::min(th, tr0 + bands.rows), nt = bands.tiles(unit);
          detail::winograd4_input(xn, H, W, c0, c1, tr0, tr1, detail::Winograd4Pos<T>::contiguous(v, cc, nt),
                                  v + 36 * kChunk * bands.max_tiles);
          for (int k = 0; k < 36; ++k) {
            StridedMap mk(m + k * Cout * tiles + tr0 * tw, Cout, nt, Eigen::OuterStride<>(tiles));
            const Eigen::Map<const RowMat> uk(u + k * Cout * cc, Cout, cc), vk(v + k * cc * nt, cc, nt);
            if (c0 == 0)
              mk.noalias() = uk * vk;
            else
              mk.noalias() += uk * vk;
          }
        });
      }
      detail::for_each_band(bands.units, bands.threads, scratch.get(0), per_thread, [&](int64_t unit, T* work) {
        const int64_t tr0 = unit * bands.rows, tr1 = std::min(th, tr0 + bands.rows);
        const auto mt = detail::Winograd4Pos<const T>::contiguous(m + tr0 * tw, Cout, tiles);
        detail::winograd4_output(mt, Cout, H, W, tr0, tr1, b, y.sample(n), accumulate, work);
      });
    }
    return;
  }

  // Whole weight at once, bands of all samples in parallel, each with its own V and M.
  Buffer ubuf = host_buffer(static_cast<size_t>(u_bytes));
  T* u = static_cast<T*>(ubuf.get());
  detail::winograd4_weights(w, 0, Cin, u);
  const detail::Winograd4Bands bands(N, th, tw, max_threads);
  const int64_t per_thread = 36 * (Cin + Cout) * bands.max_tiles + detail::winograd4_work(tw, bands.max_tiles);
  detail::ThreadScratch<T> scratch(bands.threads, per_thread);
  detail::for_each_band(bands.units, bands.threads, scratch.get(0), per_thread, [&](int64_t unit, T* v) {
    const int64_t nt = bands.tiles(unit);  // v: (36, Cin, nt)
    T* m = v + 36 * Cin * nt;              // (36, Cout, nt)
    T* work = v + 36 * (Cin + Cout) * bands.max_tiles;
    detail::winograd4_input_unit(bands, unit, x, detail::Winograd4Pos<T>::contiguous(v, Cin, nt), work);
    for (int k = 0; k < 36; ++k) {
      Eigen::Map<RowMat> mk(m + k * Cout * nt, Cout, nt);
      mk.noalias() = Eigen::Map<const RowMat>(u + k * Cout * Cin, Cout, Cin) *
                     Eigen::Map<const RowMat>(v + k * Cin * nt, Cin, nt);
    }
    detail::winograd4_output_unit(bands, unit, detail::Winograd4Pos<const T>::contiguous(m, Cout, nt), b, y, accumulate,
                                  work);
  });
}

SRMDS_CPU_INSTANTIATE(winograd4_conv)

template <class T>
void conv2d_winograd3x3_f4x4(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w,
                             const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias, Tensor<T, Cpu>& y) {
  winograd4_conv(x, w, bias ? bias->data() : nullptr, y, false);
}

SRMDS_CPU_INSTANTIATE(conv2d_winograd3x3_f4x4)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
