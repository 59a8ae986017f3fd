// CPU 2-D convolution (reference and production path). See ops/conv2d.hpp for the contract:
//   y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x[n, c, i + p - kh/2, j + q - kw/2]
// stride 1, zero "same" padding, kernels 1x1, 1x3, 3x1, 3x3.
//
// Which algorithm each pass runs is chosen from one ordered list per pass and precision
// (cpu/conv2d_algo.hpp): Winograd F(4x4, 3x3) in float and F(2x2, 3x3) in double forward
// (cpu/conv2d_winograd.hpp) for 3x3 kernels on large enough inputs, F(4x4) for the float gradients,
// otherwise im2col:
// Forward by im2col, per band of image rows, y[:, band] = Wmat (Cout x Cin*kh*kw) *
// im2col(x)[:, band], an Eigen GEMM (1x1 kernels multiply x directly, no im2col). Bands run in
// parallel (OpenMP), one im2col scratch per thread; when there are fewer bands than threads, Eigen
// parallelises the GEMM.
// Backward data: dx = conv(dy, w') with w'[c, o, p, q] = w[o, c, kh-1-p, kw-1-q] (the transposed
// convolution), by F(4x4) or the same banded im2col forward, so bands write disjoint rows of dx.
// Backward filter: by F(4x4) (G^T [(A dy A^T) . (B^T x B)] G summed over the tiles,
// src/cpu/conv2d_branches.cpp), or dWmat = sum over samples and bands of dy[:, band] *
// im2col(x)[:, band]^T. Both keep one accumulator per thread summed in a fixed order
// (deterministic for a given thread count).
// Backward bias: db[o] = sum_{n, i, j} dy[n, o, i, j].
// Inputs and outputs may be strided channel views: each sample is contiguous, at t.sample(n).
// Declarations only: the kernels (src/cpu/conv2d.cpp) are compiled in the library for float and
// double, once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include <cstdint>

#include "srmds/core/tensor.hpp"
#include "srmds/cpu/conv2d_algo.hpp"

namespace srmds::cpu {

template <class T>
void conv2d_forward(const Tensor<T, Cpu>& x,     // (N, Cin, H, W)
                    const Tensor<T, Cpu>& w,     // (Cout, Cin, kh, kw)
                    const Tensor<T, Cpu>* bias,  // (Cout) or nullptr
                    Tensor<T, Cpu>& y);          // (N, Cout, H, W)

template <class T>
void conv2d_backward_data(const Tensor<T, Cpu>& dy,  // (N, Cout, H, W)
                          const Tensor<T, Cpu>& w,   // (Cout, Cin, kh, kw)
                          Tensor<T, Cpu>& dx,        // (N, Cin, H, W)
                          WriteMode mode);

template <class T>
void conv2d_backward_filter(const Tensor<T, Cpu>& x,   // (N, Cin, H, W)
                            const Tensor<T, Cpu>& dy,  // (N, Cout, H, W)
                            Tensor<T, Cpu>& dw,        // (Cout, Cin, kh, kw)
                            WriteMode mode);

// The same three passes by the algorithm given, which must be in the pass's list for T and run the
// problem (conv_algo_runs; srmds::Error otherwise): for tests and benchmarks.
template <class T>
void conv2d_forward_with(ConvAlgo algo, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const Tensor<T, Cpu>* bias,
                         Tensor<T, Cpu>& y);
template <class T>
void conv2d_backward_data_with(ConvAlgo algo, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w, Tensor<T, Cpu>& dx,
                               WriteMode mode);
template <class T>
void conv2d_backward_filter_with(ConvAlgo algo, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dw,
                                 WriteMode mode);

template <class T>
void conv2d_backward_bias(const Tensor<T, Cpu>& dy,  // (N, Cout, H, W)
                          Tensor<T, Cpu>& db,        // (Cout)
                          WriteMode mode);

namespace detail {

// The banded im2col forward and filter gradient with an explicit band plan (tests force small
// bands): tile_bytes of im2col scratch per band, at least min_band_cols GEMM columns. wmat and dwmat
// are (Cout, Cin*kh*kw) row-major and contiguous; bias is (Cout) or nullptr.
template <class T>
void conv2d_banded(const Tensor<T, Cpu>& x,  // (N, Cin, H, W)
                   const T* wmat, int kh, int kw, const T* bias,
                   Tensor<T, Cpu>& y,  // (N, Cout, H, W)
                   bool accumulate, int64_t tile_bytes, int64_t min_band_cols);

template <class T>
void conv2d_filter_banded(const Tensor<T, Cpu>& x,   // (N, Cin, H, W)
                          const Tensor<T, Cpu>& dy,  // (N, Cout, H, W)
                          int kh, int kw, T* dwmat, bool accumulate, int64_t tile_bytes, int64_t min_band_cols);

}  // namespace detail

}  // namespace srmds::cpu
