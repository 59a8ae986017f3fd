// The transforms of Winograd F(4x4, 3x3), shared by conv2d_winograd4.cpp (one kernel) and
// conv2d_branches.cpp (several kernels on one input, and filter gradients): the input transform
// V = B^T d B of 6 x 6 patches, the gradient's A dy A^T of 4 x 4 output tiles, the weight transform
// U = G g G^T, the output transform A^T M A; the bands of tile rows (band_loop.hpp runs them).
// The matrices: include/srmds/cpu/conv2d_winograd.hpp. Internal to the kernels: one copy per ISA
// variant.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "band_loop.hpp"
#include "srmds/core/tensor.hpp"
#include "variant.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA::detail {

// Work values the transforms need per thread for images of tw tiles per row and bands of at most
// max_tiles tiles: the input's rows of a band phase-split (4 (max_tiles / tw) + 4 rows of 4 (tw + 1))
// and 6 transformed rows; the gradient's 4 + 6 rows of 4 tw; the output's 16 values per tile.
inline int64_t winograd4_work(int64_t tw, int64_t max_tiles) {
  const int64_t band_rows = 4 * ((max_tiles + tw - 1) / tw) + 4;
  return std::max((band_rows + 6) * 4 * (tw + 1), 16 * max_tiles + 40 * tw);
}

// One image row split by column phase: dst[ph * stride + q] = row[4 q + ph - shift] for q < count
// (shift 0 or 1; zero outside the row's W values; count >= ceil((W + shift) / 4)). On AVX-512 the
// row is read 64 values at a time (masked at its end) and de-interleaved by two rounds of even/odd
// permutes (8 permutes per 64 values instead of 64 gathered loads): phase s of the unshifted row is
// phase s + shift of the result, phase 3 moving to phase 0 one tile on.
template <class T>
void winograd4_split_row(const T* row, int64_t W, int shift, int64_t count, int64_t stride, T* dst) {
  T* d[4] = {dst, dst + stride, dst + 2 * stride, dst + 3 * stride};
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    float* out[4] = {d[shift], d[(1 + shift) & 3], d[(2 + shift) & 3], d[(3 + shift) & 3] + shift};
    const int64_t limit[4] = {count, count, count, count - shift};  // entries of out[s]
    auto mask = [](int64_t n) {
      return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << std::max<int64_t>(n, 0)) - 1u);
    };
    if (shift) d[0][0] = 0.0f;  // row[-1]
    for (int64_t q = 0; q < count; q += 16) {
      const float* src = row + 4 * q;
      __m512 v[4];
      for (int r = 0; r < 4; ++r) v[r] = _mm512_maskz_loadu_ps(mask(W - 4 * q - 16 * r), src + 16 * r);
      // Values 4q + 2i (i < 16) and 4q + 2i + 1, then of those the even and odd ones: the 4 phases.
      const __m512 ab0 = _mm512_permutex2var_ps(v[0], even, v[1]), ab1 = _mm512_permutex2var_ps(v[0], odd, v[1]);
      const __m512 ce0 = _mm512_permutex2var_ps(v[2], even, v[3]), ce1 = _mm512_permutex2var_ps(v[2], odd, v[3]);
      const __m512 ph[4] = {_mm512_permutex2var_ps(ab0, even, ce0), _mm512_permutex2var_ps(ab1, even, ce1),
                            _mm512_permutex2var_ps(ab0, odd, ce0), _mm512_permutex2var_ps(ab1, odd, ce1)};
      for (int p = 0; p < 4; ++p) _mm512_mask_storeu_ps(out[p] + q, mask(limit[p] - q), ph[p]);
    }
    return;
  }
#endif
  for (int64_t q = 0; q < count; ++q)
    for (int ph = 0; ph < 4; ++ph) {
      const int64_t idx = 4 * q + ph - shift;
      d[ph][q] = idx >= 0 && idx < W ? row[idx] : T(0);
    }
}

// (o0..o5) = B^T (a0..a5), B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
// 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
template <class T>
inline void winograd4_bt(T a0, T a1, T a2, T a3, T a4, T a5, T& o0, T& o1, T& o2, T& o3, T& o4, T& o5) {
  const T p1 = a4 - T(4) * a2, p2 = a3 - T(4) * a1, p3 = a4 - a2, p4 = T(2) * (a3 - a1);
  o0 = T(4) * a0 - T(5) * a2 + a4;
  o1 = p1 + p2;
  o2 = p1 - p2;
  o3 = p3 + p4;
  o4 = p3 - p4;
  o5 = T(4) * a1 - T(5) * a3 + a5;
}

// Where the transforms of a band of nt tiles (Winograd4Bands: tile rows of one or more samples, tile
// t = (tr - tr0) tw + tc within a piece, pieces one after another) are read or written: position
// k = 6 i + j of channel c, tile t at pos[k] + c ld[k] + t. A position nobody needs gets a scratch
// row with ld 0 (written: a sink; read: zeros).
template <class T>
struct Winograd4Pos {
  T* pos[36];
  int64_t ld[36];
  // The same positions from tile t on.
  Winograd4Pos shifted(int64_t t) const {
    Winograd4Pos r = *this;
    for (int k = 0; k < 36; ++k) r.pos[k] += t;
    return r;
  }
  // The contiguous layout (36, C, nt) at p.
  static Winograd4Pos contiguous(T* p, int64_t C, int64_t nt) {
    Winograd4Pos r;
    for (int k = 0; k < 36; ++k) {
      r.pos[k] = p + k * C * nt;
      r.ld[k] = nt;
    }
    return r;
  }
};

// v = B^T d B for the tiles of tile rows [tr0, tr1) and input channels [c_begin, c_end) of one
// sample (channel c at index c - c_begin of v); work: winograd4_work values. Per channel, the input
// rows 4 tr0 - 1 .. 4 tr1 + 2 are split by column phase once (neighbouring tile rows share two),
// P[ph][q] = row[4q + ph - 1] (q < tw + 1), so that the 6 columns 4tc - 1 .. 4tc + 4 of tile tc are
// P[0..3][tc], P[0..1][tc + 1]: each tile row's six rows are transformed down the columns, then along
// the tiles with contiguous loads.
template <class T>
void winograd4_input(const T* xn,  // (Cin, H, W), one sample
                     int64_t H, int64_t W, int64_t c_begin, int64_t c_end, int64_t tr0, int64_t tr1,
                     const Winograd4Pos<T>& v, T* work) {
  const int64_t HW = H * W, tw = (W + 3) / 4, tq = tw + 1, rowlen = 4 * tq, rows = 4 * (tr1 - tr0) + 2;
  T* split = work;                 // rows 4 tr0 - 1 .. 4 tr1 + 2, phase-split
  T* e = split + rows * rowlen;    // B^T applied to six of them
  for (int64_t c = c_begin; c < c_end; ++c) {
    const T* xc = xn + c * HW;
    for (int64_t l = 0; l < rows; ++l) {
      const int64_t r = 4 * tr0 - 1 + l;
      T* row = split + l * rowlen;
      if (r < 0 || r >= H)
        std::fill(row, row + rowlen, T(0));
      else  // P[ph][q] = x[r, 4q + ph - 1]
        winograd4_split_row(xc + r * W, W, 1, tq, tq, row);
    }
    for (int64_t tr = tr0; tr < tr1; ++tr) {
      const T* pad = split + 4 * (tr - tr0) * rowlen;
      const T *d0 = pad, *d1 = pad + rowlen, *d2 = pad + 2 * rowlen, *d3 = pad + 3 * rowlen, *d4 = pad + 4 * rowlen,
              *d5 = pad + 5 * rowlen;
      T *e0 = e, *e1 = e + rowlen, *e2 = e + 2 * rowlen, *e3 = e + 3 * rowlen, *e4 = e + 4 * rowlen,
        *e5 = e + 5 * rowlen;
#pragma omp simd
      for (int64_t j = 0; j < rowlen; ++j)
        winograd4_bt(d0[j], d1[j], d2[j], d3[j], d4[j], d5[j], e0[j], e1[j], e2[j], e3[j], e4[j], e5[j]);
      const int64_t t0 = (tr - tr0) * tw;
      for (int i = 0; i < 6; ++i) {
        const T* p0 = e + i * rowlen;
        const T *p1 = p0 + tq, *p2 = p0 + 2 * tq, *p3 = p0 + 3 * tq;
        T* vi[6];
        for (int j = 0; j < 6; ++j) vi[j] = v.pos[i * 6 + j] + (c - c_begin) * v.ld[i * 6 + j] + t0;
        T *v0 = vi[0], *v1 = vi[1], *v2 = vi[2], *v3 = vi[3], *v4 = vi[4], *v5 = vi[5];
#pragma omp simd
        for (int64_t tc = 0; tc < tw; ++tc)
          winograd4_bt(p0[tc], p1[tc], p2[tc], p3[tc], p0[tc + 1], p1[tc + 1], v0[tc], v1[tc], v2[tc], v3[tc], v4[tc],
                       v5[tc]);
      }
    }
  }
}

// (o0..o5) = A (a0..a3): the cubic with coefficients a0..a3 at 0, 1, -1, 2, -2, and a3.
template <class T>
inline void winograd4_a(T a0, T a1, T a2, T a3, T& o0, T& o1, T& o2, T& o3, T& o4, T& o5) {
  const T even = a0 + a2, odd = a1 + a3, even4 = a0 + T(4) * a2, odd2 = T(2) * a1 + T(8) * a3;
  o0 = a0;
  o1 = even + odd;
  o2 = even - odd;
  o3 = even4 + odd2;
  o4 = even4 - odd2;
  o5 = a3;
}

// g = A dy A^T for the 4x4 tiles of tile rows [tr0, tr1) and the C channels of one sample, dy zero
// beyond the image; work: winograd4_work values. The 4 rows of a tile row are held split by column
// phase, q[r][ph tw + tc] = dy[4 tr + r, 4 tc + ph], so that A along the rows of the tile reads
// contiguous runs along the tiles.
template <class T>
void winograd4_grad_input(const T* dyn,  // (C, H, W), one sample
                          int64_t H, int64_t W, int64_t C, int64_t tr0, int64_t tr1, const Winograd4Pos<T>& g,
                          T* work) {
  const int64_t HW = H * W, tw = (W + 3) / 4, rowlen = 4 * tw;
  T* q = work;             // 4 rows, phase-split
  T* e = q + 4 * rowlen;   // A applied down the columns: 6 rows
  for (int64_t c = 0; c < C; ++c) {
    const T* dc = dyn + c * HW;
    for (int64_t tr = tr0; tr < tr1; ++tr) {
      for (int r = 0; r < 4; ++r) {
        T* row = q + r * rowlen;
        const int64_t i = 4 * tr + r;
        if (i >= H)
          std::fill(row, row + rowlen, T(0));
        else
          winograd4_split_row(dc + i * W, W, 0, tw, tw, row);
      }
      const T *q0 = q, *q1 = q + rowlen, *q2 = q + 2 * rowlen, *q3 = q + 3 * rowlen;
      T *e0 = e, *e1 = e + rowlen, *e2 = e + 2 * rowlen, *e3 = e + 3 * rowlen, *e4 = e + 4 * rowlen,
        *e5 = e + 5 * rowlen;
#pragma omp simd
      for (int64_t j = 0; j < rowlen; ++j)
        winograd4_a(q0[j], q1[j], q2[j], q3[j], e0[j], e1[j], e2[j], e3[j], e4[j], e5[j]);
      const int64_t t0 = (tr - tr0) * tw;
      for (int i = 0; i < 6; ++i) {
        const T* p0 = e + i * rowlen;
        const T *p1 = p0 + tw, *p2 = p0 + 2 * tw, *p3 = p0 + 3 * tw;
        T* gi[6];
        for (int j = 0; j < 6; ++j) gi[j] = g.pos[i * 6 + j] + c * g.ld[i * 6 + j] + t0;
        T *g0 = gi[0], *g1 = gi[1], *g2 = gi[2], *g3 = gi[3], *g4 = gi[4], *g5 = gi[5];
#pragma omp simd
        for (int64_t tc = 0; tc < tw; ++tc)
          winograd4_a(p0[tc], p1[tc], p2[tc], p3[tc], g0[tc], g1[tc], g2[tc], g3[tc], g4[tc], g5[tc]);
      }
    }
  }
}

// U (36, Cout, C) = G g G^T from w (Cout, Cin, 3, 3) (contiguous per output channel) for C of the input
// channels, in double.
// G g for one column (g0, g1, g2) of the kernel: the quadratic g0 + g1 s + g2 s^2 at s = 0, 1, -1,
// 2, -2 scaled by 1/4, -1/6, -1/6, 1/24, 1/24, and its leading coefficient g2 (the point at
// infinity). Vectorised over blocks of kLanes input channels: the kernels of a block are gathered
// into gd[9][kLanes], and each of the 36 outputs is one contiguous store of kLanes values.
template <class T>
void winograd4_weights(const Tensor<T, Cpu>& w, int64_t c_begin, int64_t c_end,
                       T* u) {  // (36, Cout, c_end - c_begin): input channels [c_begin, c_end)
  constexpr int kLanes = 16;
  const int64_t cout = w.shape()[0], cin = c_end - c_begin, plane = cout * cin;
  const int64_t blocks = (cin + kLanes - 1) / kLanes;
#pragma omp parallel for schedule(static) if (plane > 4096)
  for (int64_t ob = 0; ob < cout * blocks; ++ob) {
    const int64_t o = ob / blocks, c0 = (ob % blocks) * kLanes, lanes = std::min<int64_t>(kLanes, cin - c0);
    const T* g = w.sample(o) + (c_begin + c0) * 9;
    double gd[9][kLanes] = {};
    for (int64_t l = 0; l < lanes; ++l)
      for (int t = 0; t < 9; ++t) gd[t][l] = static_cast<double>(g[l * 9 + t]);
    double gg[6][3][kLanes];  // G g: kernel column j -> 6 rows
    for (int j = 0; j < 3; ++j) {
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) {
        const double g0 = gd[j][l], g1 = gd[3 + j][l], g2 = gd[6 + j][l];
        const double even = g0 + g2, even4 = g0 + 4.0 * g2;
        gg[0][j][l] = 0.25 * g0;
        gg[1][j][l] = (-1.0 / 6.0) * (even + g1);
        gg[2][j][l] = (-1.0 / 6.0) * (even - g1);
        gg[3][j][l] = (1.0 / 24.0) * (even4 + 2.0 * g1);
        gg[4][j][l] = (1.0 / 24.0) * (even4 - 2.0 * g1);
        gg[5][j][l] = g2;
      }
    }
    T* uo = u + o * cin + c0;
    for (int i = 0; i < 6; ++i) {  // (G g) G^T: the same along the rows of G g
      T *u0 = uo + (i * 6) * plane, *u1 = u0 + plane, *u2 = u1 + plane, *u3 = u2 + plane, *u4 = u3 + plane,
        *u5 = u4 + plane;
#pragma omp simd
      for (int64_t l = 0; l < lanes; ++l) {
        const double g0 = gg[i][0][l], g1 = gg[i][1][l], g2 = gg[i][2][l];
        const double even = g0 + g2, even4 = g0 + 4.0 * g2;
        u0[l] = static_cast<T>(0.25 * g0);
        u1[l] = static_cast<T>((-1.0 / 6.0) * (even + g1));
        u2[l] = static_cast<T>((-1.0 / 6.0) * (even - g1));
        u3[l] = static_cast<T>((1.0 / 24.0) * (even4 + 2.0 * g1));
        u4[l] = static_cast<T>((1.0 / 24.0) * (even4 - 2.0 * g1));
        u5[l] = static_cast<T>(g2);
      }
    }
  }
}

// dst[4 tc + j] = s_j[tc] (or += with accumulate) for the W values of one output row: the inverse of
// winograd4_split_row (unshifted), with the same permutes (and masks at the row's end) on AVX-512.
template <class T>
void winograd4_merge_row(const T* s0, const T* s1, const T* s2, const T* s3, int64_t W, T* dst, bool accumulate) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    auto mask = [](int64_t n) {
      return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << std::max<int64_t>(n, 0)) - 1u);
    };
    const int64_t tw = (W + 3) / 4;
    for (int64_t tc = 0; tc < tw; tc += 16) {
      const __mmask16 m = mask(tw - tc);
      const __m512 a = _mm512_maskz_loadu_ps(m, s0 + tc), b = _mm512_maskz_loadu_ps(m, s1 + tc),
                   c = _mm512_maskz_loadu_ps(m, s2 + tc), d = _mm512_maskz_loadu_ps(m, s3 + tc);
      const __m512 ac0 = _mm512_permutex2var_ps(a, lo, c), ac1 = _mm512_permutex2var_ps(a, hi, c);
      const __m512 bd0 = _mm512_permutex2var_ps(b, lo, d), bd1 = _mm512_permutex2var_ps(b, hi, d);
      const __m512 out[4] = {_mm512_permutex2var_ps(ac0, lo, bd0), _mm512_permutex2var_ps(ac0, hi, bd0),
                             _mm512_permutex2var_ps(ac1, lo, bd1), _mm512_permutex2var_ps(ac1, hi, bd1)};
      float* p = dst + 4 * tc;
      for (int r = 0; r < 4; ++r) {
        const __mmask16 mr = mask(W - 4 * tc - 16 * r);
        if (!mr) break;
        __m512 v = out[r];
        if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mr, p + 16 * r));
        _mm512_mask_storeu_ps(p + 16 * r, mr, v);
      }
    }
    return;
  }
#endif
  const T* src[4] = {s0, s1, s2, s3};
  for (int64_t i = 0; i < W; ++i) {
    const T v = src[i & 3][i >> 2];
    dst[i] = accumulate ? dst[i] + v : v;
  }
}

// y[:, rows of tile rows tr0 .. tr1) = A^T M A + b: per output channel, the 4 x 4 outputs of every
// tile of the piece (s = A^T M: 6 -> 4 rows, then s A: 6 -> 4 columns; vectorised over all the
// piece's tiles, so small images fill the vectors too), then merged into the image rows.
// A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
// m: M of output channel o at m.pos[k] + o m.ld[k]; work: 16 (tr1 - tr0) tw values. accumulate:
// y += instead of y = (the backward data pass adds the transposed convolution to what dx holds).
template <class T>
void winograd4_output(const Winograd4Pos<const T>& m, int64_t Cout, int64_t H, int64_t W, int64_t tr0, int64_t tr1,
                      const T* bias,  // (Cout) or nullptr
                      T* yn,          // (Cout, H, W), one sample
                      bool accumulate, T* work) {
  const int64_t HW = H * W, tw = (W + 3) / 4, nt = (tr1 - tr0) * tw;
  T* sp[16];  // sp[4 i + j][t]: output (i, j) of tile t
  for (int q = 0; q < 16; ++q) sp[q] = work + q * nt;
  for (int64_t o = 0; o < Cout; ++o) {
    const T bo = bias ? bias[o] : T(0);
    const T* mk[36];
    for (int k = 0; k < 36; ++k) mk[k] = m.pos[k] + o * m.ld[k];
#pragma omp simd
    for (int64_t t = 0; t < nt; ++t) {
      T s[4][6];
      for (int j = 0; j < 6; ++j) {
        const T m0 = mk[j][t], m1 = mk[6 + j][t], m2 = mk[12 + j][t], m3 = mk[18 + j][t], m4 = mk[24 + j][t],
                m5 = mk[30 + j][t];
        const T a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
        s[0][j] = m0 + a + c;
        s[1][j] = b + T(2) * d;
        s[2][j] = a + T(4) * c;
        s[3][j] = b + T(8) * d + m5;
      }
      for (int i = 0; i < 4; ++i) {
        const T a = s[i][1] + s[i][2], b = s[i][1] - s[i][2], c = s[i][3] + s[i][4], d = s[i][3] - s[i][4];
        sp[4 * i][t] = s[i][0] + a + c + bo;
        sp[4 * i + 1][t] = b + T(2) * d + bo;
        sp[4 * i + 2][t] = a + T(4) * c + bo;
        sp[4 * i + 3][t] = b + T(8) * d + s[i][5] + bo;
      }
    }
    T* yo = yn + o * HW;
    for (int64_t tr = tr0; tr < tr1; ++tr) {
      const int64_t t0 = (tr - tr0) * tw;
      for (int i = 0; i < 4 && 4 * tr + i < H; ++i)
        winograd4_merge_row(sp[4 * i] + t0, sp[4 * i + 1] + t0, sp[4 * i + 2] + t0, sp[4 * i + 3] + t0, W,
                            yo + (4 * tr + i) * W, accumulate);
    }
  }
}

// Bands of tile rows over the whole batch: the samples' tile rows one after another (row g is tile row
// g mod th of sample g / th), cut into units of `rows` consecutive rows, about kTiles tiles each but at
// least one unit per thread. A unit may span samples, so small images still give GEMMs of ~kTiles
// columns (one GEMM per sample would re-pack the weights for a handful of tiles).
struct Winograd4Bands {
  static constexpr int64_t kTiles = 128;
  int64_t th = 1, tw = 1, total = 0, rows = 1, units = 0, max_tiles = 1;
  int threads = 1;
  Winograd4Bands(int64_t samples, int64_t th_, int64_t tw_, int max_threads) : th(th_), tw(tw_) {
    total = samples * th;
    rows = std::max<int64_t>(1, (kTiles + tw - 1) / tw);
    rows = std::max<int64_t>(1, std::min(rows, (total + max_threads - 1) / std::max(max_threads, 1)));
    units = (total + rows - 1) / rows;
    max_tiles = rows * tw;
    threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(units, max_threads)));
  }
  int64_t tiles(int64_t unit) const { return (std::min(total, (unit + 1) * rows) - unit * rows) * tw; }
  // f(n, tr0, tr1, t0) for each sample n the unit covers: its tile rows [tr0, tr1), whose first tile
  // is tile t0 of the unit.
  template <class F>
  void for_each_piece(int64_t unit, F&& f) const {
    const int64_t g0 = unit * rows, g1 = std::min(total, g0 + rows);
    for (int64_t g = g0; g < g1;) {
      const int64_t n = g / th, tr0 = g % th, tr1 = std::min(th, tr0 + (g1 - g));
      f(n, tr0, tr1, (g - g0) * tw);
      g += tr1 - tr0;
    }
  }
};

// The transforms over the pieces of one unit (winograd4_input, winograd4_grad_input of every channel,
// winograd4_output into y): the unit's tiles are those of v, g and m.
template <class T>
void winograd4_input_unit(const Winograd4Bands& bands, int64_t unit, const Tensor<T, Cpu>& x,
                          const Winograd4Pos<T>& v, T* work) {
  const Shape& s = x.shape();
  bands.for_each_piece(unit, [&](int64_t n, int64_t tr0, int64_t tr1, int64_t t0) {
    winograd4_input(x.sample(n), s.h(), s.w(), 0, s.c(), tr0, tr1, v.shifted(t0), work);
  });
}
template <class T>
void winograd4_grad_input_unit(const Winograd4Bands& bands, int64_t unit, const Tensor<T, Cpu>& dy,
                               const Winograd4Pos<T>& g, T* work) {
  const Shape& s = dy.shape();
  bands.for_each_piece(unit, [&](int64_t n, int64_t tr0, int64_t tr1, int64_t t0) {
    winograd4_grad_input(dy.sample(n), s.h(), s.w(), s.c(), tr0, tr1, g.shifted(t0), work);
  });
}
template <class T>
void winograd4_output_unit(const Winograd4Bands& bands, int64_t unit, const Winograd4Pos<const T>& m,
                           const T* bias, Tensor<T, Cpu>& y, bool accumulate, T* work) {
  const Shape& s = y.shape();
  bands.for_each_piece(unit, [&](int64_t n, int64_t tr0, int64_t tr1, int64_t t0) {
    winograd4_output(m.shifted(t0), s.c(), s.h(), s.w(), tr0, tr1, bias, y.sample(n), accumulate, work);
  });
}

}  // namespace srmds::cpu::SRMDS_CPU_ISA::detail
