// The transforms of Winograd F(2x2, 3x3) (the matrices: include/srmds/cpu/conv2d_winograd.hpp),
// shared by the float / double kernel (conv2d_winograd.cpp), the bf16 kernel
// (conv2d_winograd_bf16.cpp) and the bf16 weight packing (dispatch/conv2d_winograd_bf16.cpp): the
// weight transform U = G g G^T in double, the input transform V = B^T d B (down the columns of four
// image rows, then along the tiles) and the output transform y = A^T M A + b.
// Included by the kernel variants, in their namespace srmds::cpu::<isa>::detail, and by the dispatch
// code compiled once, in srmds::cpu::detail: distinct names, so that the linker never keeps one's
// copy of an inline function for the other (src/cpu/dispatch/isa.cpp).
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef SRMDS_CPU_ISA
namespace srmds::cpu::SRMDS_CPU_ISA::detail {
#else
namespace srmds::cpu::detail {
#endif

// u (4 x 4, row-major) = G g G^T of the 3 x 3 kernel g (row-major), in double.
template <class T>
inline void winograd2_filter(const T* g, double u[16]) {
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
    u[4 * i] = a;
    u[4 * i + 1] = 0.5 * (a + b + c);
    u[4 * i + 2] = 0.5 * (a - b + c);
    u[4 * i + 3] = c;
  }
}

// (o0..o3) = B^T (a0..a3).
template <class T>
inline void winograd2_bt(T a0, T a1, T a2, T a3, T& o0, T& o1, T& o2, T& o3) {
  o0 = a0 - a2;
  o1 = a1 + a2;
  o2 = a2 - a1;
  o3 = a1 - a3;
}

// e = B^T down the columns of rows 2 tr - 1 .. 2 tr + 2 of the plane xc (H, W), zero outside the
// image (xc nullptr: a zero plane): 4 rows `stride` apart, column j for image column j - 1, columns
// 0 and W + 1 .. stride - 1 zero. Tile tc of the row is then columns 2 tc .. 2 tc + 3 (stride at
// least 2 ceil(W / 2) + 2). zero: W zeros, read in place of the rows outside the image.
template <class T>
void winograd2_input_rows(const T* xc, int64_t H, int64_t W, int64_t tr, int64_t stride, const T* zero, T* e) {
  const T* d[4];
  for (int i = 0; i < 4; ++i) {
    const int64_t r = 2 * tr - 1 + i;
    d[i] = xc && r >= 0 && r < H ? xc + r * W : zero;
  }
  const T *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3];
  T *e0 = e + 1, *e1 = e + stride + 1, *e2 = e + 2 * stride + 1, *e3 = e + 3 * stride + 1;
#pragma omp simd
  for (int64_t j = 0; j < W; ++j) winograd2_bt(d0[j], d1[j], d2[j], d3[j], e0[j], e1[j], e2[j], e3[j]);
  for (int i = 0; i < 4; ++i) {
    T* row = e + i * stride;
    row[0] = T(0);
    std::fill(row + W + 1, row + stride, T(0));
  }
}

// Rows 2 tr and 2 tr + 1 (where < H) of the output plane yo (H, W) = A^T M A + bias for the tiles of
// tile row tr, M at position k of tile tc at mk[k][tc]: s = A^T M (rows), then s A (columns),
// vectorised along the tiles. Even W: straight into yo's rows (the second row of the last tile row of
// an odd H into scratch); odd W: into 2 scratch rows of 2 ceil(W / 2), then the W that exist are
// copied. scratch: 4 ceil(W / 2) values.
template <class T>
inline void winograd2_output_rows(const T* const mk[16], int64_t H, int64_t W, int64_t tr, T bias, T* yo,
                                  T* scratch) {
  const int64_t tw = (W + 1) / 2;
  const bool direct = W % 2 == 0, second = 2 * tr + 1 < H;
  T* out0 = direct ? yo + 2 * tr * W : scratch;
  T* out1 = direct && second ? yo + (2 * tr + 1) * W : scratch + 2 * tw;
#pragma omp simd
  for (int64_t tc = 0; tc < tw; ++tc) {
    T s0[4], s1[4];
    for (int j = 0; j < 4; ++j) {
      const T m0 = mk[j][tc], m1 = mk[4 + j][tc], m2 = mk[8 + j][tc], m3 = mk[12 + j][tc];
      s0[j] = m0 + m1 + m2;
      s1[j] = m1 - m2 - m3;
    }
    out0[2 * tc] = s0[0] + s0[1] + s0[2] + bias;
    out0[2 * tc + 1] = s0[1] - s0[2] - s0[3] + bias;
    out1[2 * tc] = s1[0] + s1[1] + s1[2] + bias;
    out1[2 * tc + 1] = s1[1] - s1[2] - s1[3] + bias;
  }
  if (!direct) {
    std::copy(out0, out0 + W, yo + 2 * tr * W);
    if (second) std::copy(out1, out1 + W, yo + (2 * tr + 1) * W);
  }
}

}  // namespace srmds::cpu[::SRMDS_CPU_ISA]::detail
