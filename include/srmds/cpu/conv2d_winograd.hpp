// CPU 3x3 convolution (stride 1, zero padding 1) by Winograd's minimal filtering F(2x2, 3x3), which
// conv2d_forward takes for Cin >= 16 on images of at least 64 x 64 pixels: 16 GEMMs of K = Cin
// instead of one of K = 9 Cin, 2.25x fewer multiply-accumulates and no im2col (the transformed input
// holds 4 values per pixel, not 9).
// For every 2x2 output tile with its 4x4 input patch d (rows and columns 2t-1 .. 2t+2, zero outside):
//   U[o, c] = G g[o, c] G^T            (4x4, from the 3x3 kernel g, computed in double)
//   V[c, t] = B^T d[c, t] B            (4x4)
//   M[o, t] = sum_c U[o, c] . V[c, t]  (elementwise in the 4x4; one GEMM per position)
//   y tile  = A^T M[o, t] A + b[o]     (2x2; outputs beyond H or W are dropped)
//   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],  B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// Equal to the direct convolution in exact arithmetic; in float the rounding is a few times that of
// the im2col GEMM (tests/test_conv2d_winograd.cpp bounds it). Bands of tile rows run in parallel,
// one scratch per thread; the weight transform is redone per call (weights may change in place).
// Declaration only: the kernel (src/cpu/conv2d_winograd.cpp) is compiled in the library for float
// and double, once per ISA level, and chosen at run time (cpu/isa.hpp). Checks its shapes.
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void conv2d_winograd3x3(const Tensor<T, Cpu>& x,                                  // (N, Cin, H, W)
                        const Tensor<T, Cpu>& w,                                  // (Cout, Cin, 3, 3)
                        const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias,  // (Cout) or nullptr
                        Tensor<T, Cpu>& y);                                       // (N, Cout, H, W)

// The same convolution by F(4x4, 3x3) (src/cpu/conv2d_winograd4.cpp). Checks its shapes.
template <class T>
void conv2d_winograd3x3_f4x4(const Tensor<T, Cpu>& x,                                  // (N, Cin, H, W)
                             const Tensor<T, Cpu>& w,                                  // (Cout, Cin, 3, 3)
                             const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias,  // (Cout) or nullptr
                             Tensor<T, Cpu>& y);                                       // (N, Cout, H, W)

}  // namespace srmds::cpu
