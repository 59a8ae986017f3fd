// CPU 3x3 convolution (stride 1, zero padding 1) by Winograd's minimal filtering F(m x m, 3x3),
// which conv2d_forward takes for Cin >= 16 (cpu/conv2d.hpp): in float F(4x4, 3x3) from 64 4x4 tiles
// per batch (32 x 32 pixels at batch 1), in double F(2x2, 3x3) on images of at least 64 x 64.
// (m + 2)^2 GEMMs of K = Cin instead of one of K = 9 Cin, 9 m^2 / (m + 2)^2 fewer multiply-accumulates
// (2.25x for m = 2, 4x for m = 4) and no im2col.
// For every m x m output tile with its (m+2) x (m+2) input patch d (rows and columns mt-1 .. mt+m,
// zero outside):
//   U[o, c] = G g[o, c] G^T            (from the 3x3 kernel g, computed in double)
//   V[c, t] = B^T d[c, t] B
//   M[o, t] = sum_c U[o, c] . V[c, t]  (elementwise in the (m+2) x (m+2); one GEMM per position)
//   y tile  = A^T M[o, t] A + b[o]     (m x m; outputs beyond H or W are dropped)
// F(2x2, 3x3), points 0, 1, -1, infinity:
//   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// F(4x4, 3x3), points 0, 1, -1, 2, -2, infinity (G g: the kernel's polynomial at the points, scaled
// by 1/4, -1/6, -1/6, 1/24, 1/24, 1; A^T: the output polynomial's values there):
//   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
// Equal to the direct convolution in exact arithmetic. In float F(2x2) rounds a few times as much as
// the im2col GEMM, F(4x4) (entries of B^T and A^T up to 5 and 8) 10-20x more than F(2x2): ~1e-5
// of sqrt(9 Cin) for inputs in [-1, 1] (tests/test_conv2d_winograd.cpp bounds both). Bands of tile
// rows run in parallel, one scratch per thread; F(4x4) with large weights (36 Cout Cin floats above
// 16 MB) accumulates M over chunks of 128 input channels instead, sample by sample. The weight
// transform is redone per call (weights may change in place).
// Declaration only: the kernels (src/cpu/conv2d_winograd.cpp, conv2d_winograd4.cpp) are compiled in
// the library for float and double, once per ISA level, and chosen at run time (cpu/isa.hpp). Both
// check their shapes.
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

// 3x3 convolutions of inputs with at least this many channels take a Winograd path (conv2d_forward;
// the fused blocks' bf16 convolution, cpu/conv2d_winograd_bf16.hpp).
inline constexpr int64_t kWinogradMinCin = 16;
// Float takes F(4x4, 3x3) from this many 4x4 tiles in the batch (N ceil(H/4) ceil(W/4)) on.
inline constexpr int64_t kWinogradMinTiles = 64;

template <class T>
void conv2d_winograd3x3(const Tensor<T, Cpu>& x,                                  // (N, Cin, H, W)
                        const Tensor<T, Cpu>& w,                                  // (Cout, Cin, 3, 3)
                        const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias,  // (Cout) or nullptr
                        Tensor<T, Cpu>& y);                                       // (N, Cout, H, W)

// The same convolution by F(4x4, 3x3).
template <class T>
void conv2d_winograd3x3_f4x4(const Tensor<T, Cpu>& x,                                  // (N, Cin, H, W)
                             const Tensor<T, Cpu>& w,                                  // (Cout, Cin, 3, 3)
                             const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias,  // (Cout) or nullptr
                             Tensor<T, Cpu>& y);                                       // (N, Cout, H, W)

}  // namespace srmds::cpu
