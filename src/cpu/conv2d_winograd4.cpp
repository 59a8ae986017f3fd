// Winograd F(4x4, 3x3) convolution kernel, one variant per ISA level (see
// include/srmds/cpu/conv2d_winograd.hpp for the math, src/cpu/variant.hpp). The shapes are checked
// by the entry point (src/cpu/dispatch/entries.cpp); conv2d_forward (conv2d.cpp) calls it directly.
// Layout of one band (tile rows [tr0, tr1) of one sample, nt tiles, tile t = (tr - tr0) tw + tc):
//   v (36, Cin, nt) = B^T d B,  m (36, Cout, nt) = U_k v_k (one GEMM per k),  y = A^T m A + b.
// Two schedules (both with whole bands per thread):
//   whole weight: U (36, Cout, Cin) once, then every band of every sample with its own v and m;
//   chunked (U above 16 MB, one sample's M within 24 MB: the deep layers): per sample, M (36, Cout,
//     tiles) accumulates over chunks of 128 input channels, U of a chunk shared by the bands. In the
//     fused network at 2 threads every allocation then stays below glibc's mmap threshold (dynamic,
//     at most 32 MB), so it reuses heap pages instead of faulting in fresh ones: a 75 MB U and 56 MB
//     of band scratch per call had cost ~30 % of the 1024 -> 512 layer at 64 x 64.
// The 6 padded input rows of a tile row are held split by column phase, P[r][q] = row[4q + r - 1]
// (q < tw + 1), so that the 6 columns 4tc - 1 .. 4tc + 4 of tile tc are P[0..3][tc], P[0..1][tc + 1]:
// contiguous loads along the tiles instead of stride-4 ones.
#include "variant.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>

#include "conv2d_im2col.hpp"
#include "srmds/core/tensor.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace detail {

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

// v (36, c_end - c_begin, nt) = B^T d B for the tiles of tile rows [tr0, tr1) (nt = (tr1 - tr0) tw)
// and input channels [c_begin, c_end) of one sample; work: 12 (4 tw + 4) values.
template <class T>
void winograd4_input(const T* xn,  // (Cin, H, W), one sample
                     int64_t H, int64_t W, int64_t c_begin, int64_t c_end, int64_t tr0, int64_t tr1, T* v,
                     T* work) {
  const int64_t HW = H * W, tw = (W + 3) / 4, tq = tw + 1, rowlen = 4 * tq, nt = (tr1 - tr0) * tw;
  const int64_t cc = c_end - c_begin;
  T* pad = work;               // 6 padded input rows, phase-split
  T* e = pad + 6 * rowlen;     // B^T applied to them
  for (int64_t c = c_begin; c < c_end; ++c) {
    const T* xc = xn + c * HW;
    for (int64_t tr = tr0; tr < tr1; ++tr) {
      for (int i = 0; i < 6; ++i) {
        T* row = pad + i * rowlen;
        const int64_t r = 4 * tr - 1 + i;
        if (r < 0 || r >= H) {
          std::fill(row, row + rowlen, T(0));
          continue;
        }
        const T* src = xc + r * W;
        for (int ph = 0; ph < 4; ++ph) {  // P[ph][q] = src[4q + ph - 1] for 0 <= 4q + ph - 1 < W
          T* dst = row + ph * tq;
          const int64_t qlo = ph == 0 ? 1 : 0;
          const int64_t qhi = std::min(tq, W - ph >= 0 ? (W - ph) / 4 + 1 : int64_t(0));
          std::fill(dst, dst + std::min(qlo, tq), T(0));
#pragma omp simd
          for (int64_t q = qlo; q < qhi; ++q) dst[q] = src[4 * q + ph - 1];
          std::fill(dst + std::max(qhi, qlo), dst + tq, T(0));
        }
      }
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
        for (int j = 0; j < 6; ++j) vi[j] = v + ((i * 6 + j) * cc + (c - c_begin)) * nt + t0;
        T *v0 = vi[0], *v1 = vi[1], *v2 = vi[2], *v3 = vi[3], *v4 = vi[4], *v5 = vi[5];
#pragma omp simd
        for (int64_t tc = 0; tc < tw; ++tc)
          winograd4_bt(p0[tc], p1[tc], p2[tc], p3[tc], p0[tc + 1], p1[tc + 1], v0[tc], v1[tc], v2[tc], v3[tc], v4[tc],
                       v5[tc]);
      }
    }
  }
}

// y[:, rows of tile rows tr0 .. tr1) = A^T M A + b: s = A^T M (6 -> 4 rows), then s A (6 -> 4
// columns), vectorised along the tiles; A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
// m[(k Cout + o) ldm + t] holds M for the band's tile t; work: 16 tw values.
template <class T>
void winograd4_output(const T* m, int64_t ldm, int64_t Cout, int64_t H, int64_t W, int64_t tr0, int64_t tr1,
                      const T* bias,  // (Cout) or nullptr
                      T* yn,          // (Cout, H, W), one sample
                      T* work) {
  const int64_t HW = H * W, tw = (W + 3) / 4;
  T* out = work;  // 4 output rows of 4 tw values
  for (int64_t o = 0; o < Cout; ++o) {
    const T bo = bias ? bias[o] : T(0);
    T* yo = yn + o * HW;
    for (int64_t tr = tr0; tr < tr1; ++tr) {
      const int64_t t0 = (tr - tr0) * tw;
      const T* mk[36];
      for (int k = 0; k < 36; ++k) mk[k] = m + (k * Cout + o) * ldm + t0;
      T *out0 = out, *out1 = out + 4 * tw, *out2 = out + 8 * tw, *out3 = out + 12 * tw;
#pragma omp simd
      for (int64_t tc = 0; tc < tw; ++tc) {
        T s[4][6];
        for (int j = 0; j < 6; ++j) {
          const T m0 = mk[j][tc], m1 = mk[6 + j][tc], m2 = mk[12 + j][tc], m3 = mk[18 + j][tc], m4 = mk[24 + j][tc],
                  m5 = mk[30 + j][tc];
          const T a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
          s[0][j] = m0 + a + c;
          s[1][j] = b + T(2) * d;
          s[2][j] = a + T(4) * c;
          s[3][j] = b + T(8) * d + m5;
        }
        T* outs[4] = {out0, out1, out2, out3};
        for (int i = 0; i < 4; ++i) {
          const T a = s[i][1] + s[i][2], b = s[i][1] - s[i][2], c = s[i][3] + s[i][4], d = s[i][3] - s[i][4];
          outs[i][4 * tc] = s[i][0] + a + c + bo;
          outs[i][4 * tc + 1] = b + T(2) * d + bo;
          outs[i][4 * tc + 2] = a + T(4) * c + bo;
          outs[i][4 * tc + 3] = b + T(8) * d + s[i][5] + bo;
        }
      }
      for (int i = 0; i < 4 && 4 * tr + i < H; ++i)
        std::copy(out + i * 4 * tw, out + i * 4 * tw + W, yo + (4 * tr + i) * W);
    }
  }
}

// Bands of tile rows for `samples` samples of th tile rows: about kTiles tiles each, but at least
// one band per thread.
struct Winograd4Bands {
  int64_t rows = 1, per_sample = 1, units = 1, max_tiles = 1;
  int threads = 1;
  Winograd4Bands(int64_t samples, int64_t th, int64_t tw, int max_threads) {
    constexpr int64_t kTiles = 128;
    rows = std::min(th, std::max<int64_t>(1, (kTiles + tw - 1) / tw));
    const int64_t want = (max_threads + samples - 1) / samples;  // bands per sample
    rows = std::max<int64_t>(1, std::min(rows, (th + want - 1) / want));
    per_sample = (th + rows - 1) / rows;
    units = samples * per_sample;
    max_tiles = rows * tw;
    threads = static_cast<int>(std::min<int64_t>(units, max_threads));
  }
};

// Runs body(unit, thread) for every unit, on `threads` threads (whole units each).
template <class F>
void winograd4_parallel(int64_t units, int threads, const F& body) {
  if (threads > 1) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t unit = 0; unit < units; ++unit) body(unit, conv_thread_id());
  } else {
    for (int64_t unit = 0; unit < units; ++unit) body(unit, 0);
  }
}

}  // namespace detail

// Bytes of U above which the kernel works sample by sample over chunks of kChunk input channels
// instead of transforming the whole weight at once (when one sample's M fits kMaxSampleMBytes); see
// the top of this file.
constexpr int64_t kMaxFullWeightsBytes = int64_t(16) << 20;
constexpr int64_t kMaxSampleMBytes = int64_t(24) << 20;
constexpr int64_t kChunk = 128;

template <class T>
void conv2d_winograd3x3_f4x4(const Tensor<T, Cpu>& x,  // (N, Cin, H, W)
                             const Tensor<T, Cpu>& w,  // (Cout, Cin, 3, 3)
                             const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias,  // (Cout) or nullptr
                             Tensor<T, Cpu>& y) {      // (N, Cout, H, W)
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using StridedMap = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = w.shape()[0];
  if (N == 0 || H == 0 || W == 0 || Cout == 0) return;
  const int64_t th = (H + 3) / 4, tw = (W + 3) / 4, tiles = th * tw;  // tiles per column, row, sample
  const int64_t io_work = 12 * (4 * tw + 4);  // the transforms' rows (>= 16 tw for the output)
  const T* b = bias ? bias->data() : nullptr;
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
    detail::ThreadScratch<T> scratch(bands.threads, 36 * kChunk * bands.max_tiles + io_work);
    for (int64_t n = 0; n < N; ++n) {
      const T* xn = x.sample(n);
      for (int64_t c0 = 0; c0 < Cin; c0 += kChunk) {
        const int64_t c1 = std::min(Cin, c0 + kChunk), cc = c1 - c0;
        detail::winograd4_weights(w, c0, c1, u);
        detail::winograd4_parallel(bands.units, bands.threads, [&](int64_t unit, int thread) {
          T* v = scratch.get(thread);  // (36, cc, nt)
          const int64_t tr0 = unit * bands.rows, tr1 = std::min(th, tr0 + bands.rows), nt = (tr1 - tr0) * tw;
          detail::winograd4_input(xn, H, W, c0, c1, tr0, tr1, v, v + 36 * kChunk * bands.max_tiles);
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
      detail::winograd4_parallel(bands.units, bands.threads, [&](int64_t unit, int thread) {
        const int64_t tr0 = unit * bands.rows, tr1 = std::min(th, tr0 + bands.rows);
        detail::winograd4_output(m + tr0 * tw, tiles, Cout, H, W, tr0, tr1, b, y.sample(n), scratch.get(thread));
      });
    }
    return;
  }

  // Whole weight at once, bands of all samples in parallel, each with its own V and M.
  Buffer ubuf = host_buffer(static_cast<size_t>(u_bytes));
  T* u = static_cast<T*>(ubuf.get());
  detail::winograd4_weights(w, 0, Cin, u);
  const detail::Winograd4Bands bands(N, th, tw, max_threads);
  detail::ThreadScratch<T> scratch(bands.threads, 36 * (Cin + Cout) * bands.max_tiles + io_work);
  detail::winograd4_parallel(bands.units, bands.threads, [&](int64_t unit, int thread) {
    const int64_t n = unit / bands.per_sample, tr0 = (unit % bands.per_sample) * bands.rows;
    const int64_t tr1 = std::min(th, tr0 + bands.rows), nt = (tr1 - tr0) * tw;
    T* v = scratch.get(thread);  // (36, Cin, nt)
    T* m = v + 36 * Cin * nt;    // (36, Cout, nt)
    T* work = v + 36 * (Cin + Cout) * bands.max_tiles;
    detail::winograd4_input(x.sample(n), H, W, 0, Cin, tr0, tr1, v, work);
    for (int k = 0; k < 36; ++k) {
      Eigen::Map<RowMat> mk(m + k * Cout * nt, Cout, nt);
      mk.noalias() = Eigen::Map<const RowMat>(u + k * Cout * Cin, Cout, Cin) *
                     Eigen::Map<const RowMat>(v + k * Cin * nt, Cin, nt);
    }
    detail::winograd4_output(m, nt, Cout, H, W, tr0, tr1, b, y.sample(n), work);
  });
}

SRMDS_CPU_INSTANTIATE(conv2d_winograd3x3_f4x4)

template <class T>
void register_conv2d_winograd4(cpu::detail::Kernels<T>& k) {
  k.conv2d_winograd3x3_f4x4 = &conv2d_winograd3x3_f4x4<T>;
}
SRMDS_CPU_REGISTER(conv2d_winograd4)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
