// The bf16 Winograd F(2x2, 3x3) convolution kernels, one copy per ISA level (math and layout:
// include/srmds/cpu/conv2d_winograd_bf16.hpp; variants: src/cpu/variant.hpp). In parallel over
// bands of tile rows (of every sample), each thread
//   1. transforms its band's input, channel pair by channel pair: e = B^T d on 4 padded rows, then
//      V = e B per tile, in fp32, rounded to bf16 and paired into words V[k][c2][t];
//   2. runs the 16 GEMMs M[k] = U[k] V[k] in register tiles of kOB output channels x up to 48 tiles,
//      accumulating acc[o][t] += hi(U) hi(V) ; acc[o][t] += lo(U) lo(V) over the channel pairs in
//      fp32 (gemm_tile_fma: fp32 multiply-adds, every variant; gemm_tile_dot: VDPBF16PS, the avx512
//      variant, compiled for AVX512_BF16 by a target attribute), or on AMX tiles (amx_gemms, the
//      avx512 variant, compiled for AMX-TILE and AMX-BF16); the dispatcher calls the last two only
//      where the processor has them (src/cpu/dispatch/conv2d_winograd_bf16.cpp);
//   3. transforms the output, y = A^T M A + b, in fp32, and stores the band's rows.
// The transforms are those of the float kernel (winograd2_common.hpp).
#include "variant.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "band_loop.hpp"
#include "srmds/core/tensor.hpp"
#include "srmds/cpu/conv2d_winograd_bf16.hpp"
#include "winograd2_common.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace {

constexpr int kOB = kBf16OutBlock;
constexpr int kMaxVec = 3;  // 16-tile vectors per register tile
constexpr int kFma = 0, kDot = 1, kAmx = 2;  // the GEMM kernels

inline float word_hi(uint32_t u) {
  const uint32_t b = u & 0xffff0000u;
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}
inline float word_lo(uint32_t u) {
  const uint32_t b = u << 16;
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

// One register tile of position k's GEMM: ub = U[k] of the block, (C2, kOB) words; v0 = V[k] at
// (c2 0, first tile), rows T16 words apart; m0 = M[k] at (the block's first channel, first tile),
// rows T16 floats apart; nout <= kOB rows stored. NV vectors of 16 tiles.
struct GemmTile {
  const uint32_t* ub;
  const uint32_t* v0;
  float* m0;
  int64_t C2, T16;
  int nout;
};

template <int NV>
void gemm_tile_fma(const GemmTile& t) {
  constexpr int P = 16 * NV;
  float acc[kOB][P] = {};
  for (int64_t c2 = 0; c2 < t.C2; ++c2) {
    const uint32_t* vr = t.v0 + c2 * t.T16;
    float vh[P], vl[P];
    for (int j = 0; j < P; ++j) {
      vh[j] = word_hi(vr[j]);
      vl[j] = word_lo(vr[j]);
    }
    const uint32_t* ur = t.ub + c2 * kOB;
    for (int o = 0; o < kOB; ++o) {
      const float uh = word_hi(ur[o]), ul = word_lo(ur[o]);
      for (int j = 0; j < P; ++j) {
        acc[o][j] += uh * vh[j];
        acc[o][j] += ul * vl[j];
      }
    }
  }
  for (int o = 0; o < t.nout; ++o) std::copy(acc[o], acc[o] + P, t.m0 + o * t.T16);
}

#if defined(__AVX512F__)
template <int NV>
__attribute__((target("avx512bf16"))) void gemm_tile_dot(const GemmTile& t) {
  __m512 acc[kOB][NV];
  for (int o = 0; o < kOB; ++o)
    for (int v = 0; v < NV; ++v) acc[o][v] = _mm512_setzero_ps();
  for (int64_t c2 = 0; c2 < t.C2; ++c2) {
    const uint32_t* vr = t.v0 + c2 * t.T16;
    __m512i xv[NV];
    for (int v = 0; v < NV; ++v) xv[v] = _mm512_loadu_si512(vr + 16 * v);
    const uint32_t* ur = t.ub + c2 * kOB;
    for (int o = 0; o < kOB; ++o) {
      const __m512i wv = _mm512_set1_epi32(static_cast<int>(ur[o]));
      for (int v = 0; v < NV; ++v) acc[o][v] = _mm512_dpbf16_ps(acc[o][v], (__m512bh)xv[v], (__m512bh)wv);
    }
  }
  for (int o = 0; o < t.nout; ++o)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(t.m0 + o * t.T16 + 16 * v, acc[o][v]);
}
#endif

#if defined(__AVX512F__)
// The GEMMs on AMX (the avx512 variant; called only where the dispatcher has AMX-BF16 and the
// kernel's permission for tile data): per position k, M[k] (Coutp, T16) = U[k] (Coutp, C2p words)
// V[k] (C2p, T16 words) in blocks of up to 2 x 2 tiles of 16 x 16 fp32 (tiles 0-3), each the sum
// over 32-channel steps of TDPBF16PS of a 16 x 16-pair U tile (4, 5) and a 16-pair x 16 V tile
// (6, 7). Both operands are already in the pair layout TDPBF16PS takes (low half: even channel).
struct alignas(64) AmxConfig {
  uint8_t palette, start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

template <int NO, int NT>
__attribute__((target("amx-tile,amx-bf16"))) void amx_block(const uint32_t* u, const uint32_t* v, float* m,
                                                            int64_t C2p, int64_t T16) {
  const size_t su = static_cast<size_t>(C2p) * 4, sv = static_cast<size_t>(T16) * 4;
  _tile_zero(0);
  if constexpr (NT > 1) _tile_zero(1);
  if constexpr (NO > 1) _tile_zero(2);
  if constexpr (NO > 1 && NT > 1) _tile_zero(3);
  for (int64_t c2 = 0; c2 < C2p; c2 += 16) {
    _tile_loadd(4, u + c2, su);
    if constexpr (NO > 1) _tile_loadd(5, u + 16 * C2p + c2, su);
    _tile_loadd(6, v + c2 * T16, sv);
    if constexpr (NT > 1) _tile_loadd(7, v + c2 * T16 + 16, sv);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NT > 1) _tile_dpbf16ps(1, 4, 7);
    if constexpr (NO > 1) _tile_dpbf16ps(2, 5, 6);
    if constexpr (NO > 1 && NT > 1) _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, m, sv);
  if constexpr (NT > 1) _tile_stored(1, m + 16, sv);
  if constexpr (NO > 1) _tile_stored(2, m + 16 * T16, sv);
  if constexpr (NO > 1 && NT > 1) _tile_stored(3, m + 16 * T16 + 16, sv);
}

__attribute__((target("amx-tile,amx-bf16"))) void amx_gemms(const uint32_t* upacked, const uint32_t* v, float* m,
                                                            int64_t Coutp, int64_t C2p, int64_t T16, int64_t t16) {
  AmxConfig cfg{};
  cfg.palette = 1;
  for (int i = 0; i < 8; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  _tile_loadconfig(&cfg);
  for (int k = 0; k < 16; ++k) {
    const uint32_t* uk = upacked + k * Coutp * C2p;
    const uint32_t* vk = v + k * C2p * T16;
    float* mk = m + k * Coutp * T16;
    for (int64_t j = 0; j < t16; j += 32) {
      const bool two_t = t16 - j >= 32;
      for (int64_t o = 0; o < Coutp; o += 32) {
        const bool two_o = Coutp - o >= 32;
        const uint32_t* u0 = uk + o * C2p;
        float* m0 = mk + o * T16 + j;
        if (two_o && two_t)
          amx_block<2, 2>(u0, vk + j, m0, C2p, T16);
        else if (two_o)
          amx_block<2, 1>(u0, vk + j, m0, C2p, T16);
        else if (two_t)
          amx_block<1, 2>(u0, vk + j, m0, C2p, T16);
        else
          amx_block<1, 1>(u0, vk + j, m0, C2p, T16);
      }
    }
  }
  _tile_release();
}
#endif

template <bool Dot>
void run_gemm_tile(const GemmTile& t, int nv) {
#if defined(__AVX512F__)
  if constexpr (Dot) {
    switch (nv) {
      case 1: gemm_tile_dot<1>(t); return;
      case 2: gemm_tile_dot<2>(t); return;
      default: gemm_tile_dot<3>(t); return;
    }
  }
#endif
  switch (nv) {
    case 1: gemm_tile_fma<1>(t); return;
    case 2: gemm_tile_fma<2>(t); return;
    default: gemm_tile_fma<3>(t); return;
  }
}

// The word of bf16(lo) (low half) and bf16(hi) (high half).
inline uint32_t bf16_pair(float lo, float hi) {
  return uint32_t(float_to_bf16(lo)) | (uint32_t(float_to_bf16(hi)) << 16);
}

template <int Kind>
void winograd3x3_bf16(const Tensor<float, Cpu>& x,  // (N, Cin, H, W)
                      const uint32_t* upacked, int64_t Cout,
                      const float* bias,                         // (Cout) or nullptr
                      Tensor<float, Cpu>& y,                     // (N, Cout, H, W)
                      uint32_t* work, int64_t work_words) {      // bands of winograd_bf16_band_words
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w();
  if (N == 0 || H == 0 || W == 0 || Cout == 0) return;
  const int64_t C2 = (Cin + 1) / 2, HW = H * W, th = (H + 1) / 2, tw = (W + 1) / 2, wp = 2 * tw + 2;
  const int64_t blocks = (Cout + kOB - 1) / kOB, C2p = winograd_bf16_pad16(C2), Coutp = winograd_bf16_pad16(Cout);
  const int max_threads = detail::conv_max_threads();
  const int64_t band_rows = winograd_bf16_band_rows(N, H, W, max_threads);
  const int64_t band_words = winograd_bf16_band_words(Cin, Cout, N, H, W, max_threads);
  const int64_t bands_per_sample = (th + band_rows - 1) / band_rows, units = N * bands_per_sample;
  const int64_t T16 = (band_rows * tw + 15) / 16 * 16;
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>({max_threads, units, work_words / band_words}));

  auto run_band = [&](int64_t unit, uint32_t* buf) {
    const int64_t n = unit / bands_per_sample, tr0 = (unit % bands_per_sample) * band_rows;
    const int64_t tr1 = std::min(th, tr0 + band_rows), nt = (tr1 - tr0) * tw;
    const int64_t t16 = (nt + 15) / 16 * 16;  // <= T16; the layout keeps rows T16 apart
    uint32_t* v = buf;                                                  // (16, C2p, T16) words
    float* m = reinterpret_cast<float*>(v + 16 * C2p * T16);            // (16, Coutp, T16)
    float* pad = m + 16 * Coutp * T16;  // W zeros for the input transform, then 2 output rows of 2 tw
    float* elo = pad + 4 * (wp + 2);                                    // B^T rows, channel 2 c2
    float* ehi = elo + 4 * (wp + 2);                                    // B^T rows, channel 2 c2 + 1
    const float* xn = x.sample(n);
    std::fill(pad, pad + W, 0.0f);  // the zero rows above and below the image
    // 1. Input transform, pair by pair.
    for (int64_t c2 = 0; c2 < C2; ++c2) {
      const float* xlo = xn + 2 * c2 * HW;
      const float* xhi = 2 * c2 + 1 < Cin ? xlo + HW : nullptr;
      for (int64_t tr = tr0; tr < tr1; ++tr) {
        detail::winograd2_input_rows(xlo, H, W, tr, wp + 2, pad, elo);
        detail::winograd2_input_rows(xhi, H, W, tr, wp + 2, pad, ehi);
        const int64_t t0 = (tr - tr0) * tw;
        for (int i = 0; i < 4; ++i) {
          const float* a = elo + i * (wp + 2);
          const float* b = ehi + i * (wp + 2);
          uint32_t* v0 = v + ((i * 4 + 0) * C2p + c2) * T16 + t0;
          uint32_t* v1 = v + ((i * 4 + 1) * C2p + c2) * T16 + t0;
          uint32_t* v2 = v + ((i * 4 + 2) * C2p + c2) * T16 + t0;
          uint32_t* v3 = v + ((i * 4 + 3) * C2p + c2) * T16 + t0;
#pragma omp simd
          for (int64_t tc = 0; tc < tw; ++tc) {
            float lo[4], hi[4];
            detail::winograd2_bt(a[2 * tc], a[2 * tc + 1], a[2 * tc + 2], a[2 * tc + 3], lo[0], lo[1], lo[2], lo[3]);
            detail::winograd2_bt(b[2 * tc], b[2 * tc + 1], b[2 * tc + 2], b[2 * tc + 3], hi[0], hi[1], hi[2], hi[3]);
            v0[tc] = bf16_pair(lo[0], hi[0]);
            v1[tc] = bf16_pair(lo[1], hi[1]);
            v2[tc] = bf16_pair(lo[2], hi[2]);
            v3[tc] = bf16_pair(lo[3], hi[3]);
          }
        }
      }
      if (t16 > nt)
        for (int k = 0; k < 16; ++k) std::fill_n(v + (k * C2p + c2) * T16 + nt, t16 - nt, 0u);
    }
    // 2. The 16 GEMMs.
#if defined(__AVX512F__)
    if constexpr (Kind == kAmx) {
      for (int k = 0; k < 16; ++k)  // AMX sums over the zero channel pairs C2 .. C2p too
        for (int64_t c2 = C2; c2 < C2p; ++c2) std::fill_n(v + (k * C2p + c2) * T16, t16, 0u);
      amx_gemms(upacked, v, m, Coutp, C2p, T16, t16);
    } else
#endif
    for (int k = 0; k < 16; ++k) {
      const uint32_t* uk = upacked + k * blocks * C2 * kOB;
      for (int64_t j = 0; j < t16; j += 16 * kMaxVec) {
        const int nv = static_cast<int>(std::min<int64_t>(kMaxVec, (t16 - j) / 16));
        for (int64_t bo = 0; bo < blocks; ++bo) {
          GemmTile t;
          t.ub = uk + bo * C2 * kOB;
          t.v0 = v + k * C2p * T16 + j;
          t.m0 = m + (k * Coutp + bo * kOB) * T16 + j;
          t.C2 = C2;
          t.T16 = T16;
          t.nout = static_cast<int>(std::min<int64_t>(kOB, Cout - bo * kOB));
          run_gemm_tile<Kind == kDot>(t, nv);
        }
      }
    }
    // 3. Output transform, y = A^T M A + b.
    float* yn = y.sample(n);
    for (int64_t o = 0; o < Cout; ++o) {
      const float bo = bias ? bias[o] : 0.0f;
      for (int64_t tr = tr0; tr < tr1; ++tr) {
        const float* mk[16];
        for (int k = 0; k < 16; ++k) mk[k] = m + (k * Coutp + o) * T16 + (tr - tr0) * tw;
        detail::winograd2_output_rows(mk, H, W, tr, bo, yn + o * HW, pad);
      }
    }
  };
  detail::for_each_band(units, static_cast<int>(threads), work, band_words, run_band);
}

}  // namespace

void register_conv2d_winograd_bf16(::srmds::cpu::detail::KernelTable& table) {
  table.bf16.winograd3x3_fma = &winograd3x3_bf16<kFma>;
#if defined(__AVX512F__)
  table.bf16.winograd3x3_dot = &winograd3x3_bf16<kDot>;
  table.bf16.winograd3x3_amx = &winograd3x3_bf16<kAmx>;
#endif
}

}  // namespace srmds::cpu::SRMDS_CPU_ISA
