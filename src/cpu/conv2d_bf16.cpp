// The bf16 3x3 convolution kernels, one copy per ISA level (math and layout:
// include/srmds/cpu/conv2d_bf16.hpp; variants: src/cpu/variant.hpp). In parallel over bands of
// output rows (of every sample), each thread packs its band's input into its zero-bordered word
// image, then for each row, block of kBf16OutBlock output channels and run of kBf16Pixels pixels
// accumulates the 9 * Cin2 steps
//   acc[o][j] += hi(w[o]) * hi(x[j]) ; acc[o][j] += lo(w[o]) * lo(x[j])
// in fp32 registers, and store acc + bias. tile_fma does this with fp32 multiply-adds (every
// variant); tile_dot with VDPBF16PS (the avx512 variant, compiled for AVX512_BF16 by a target
// attribute and registered only where the dispatcher finds it, src/cpu/dispatch/conv2d_bf16.cpp).
#include "variant.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "band_loop.hpp"
#include "srmds/core/tensor.hpp"
#include "srmds/cpu/conv2d_bf16.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace {

constexpr int kOB = kBf16OutBlock;
constexpr int kPx = kBf16Pixels;

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

// Rows [r0 - 1, r1 + 1) of x (C, H, W), one contiguous sample -> band (C2, R + 2, W + 2) words, row k
// of a channel pair holding image row r0 - 1 + k; zero outside the image (rows past r1 + 1 unused).
void pack_band(const float* x, int64_t C, int64_t H, int64_t W, int64_t r0, int64_t r1, int64_t R, uint32_t* band) {
  const int64_t C2 = (C + 1) / 2, Wp = W + 2, HW = H * W;
  for (int64_t c2 = 0; c2 < C2; ++c2) {
    for (int64_t k = 0; k < r1 - r0 + 2; ++k) {
      const int64_t i = r0 - 1 + k;
      uint32_t* d = band + (c2 * (R + 2) + k) * Wp;
      if (i < 0 || i >= H) {
        std::memset(d, 0, static_cast<size_t>(Wp) * sizeof(uint32_t));
        continue;
      }
      d[0] = 0;
      d[W + 1] = 0;
      const float* lo = x + 2 * c2 * HW + i * W;
      if (2 * c2 + 1 < C) {
        const float* hi = lo + HW;
        for (int64_t j = 0; j < W; ++j)
          d[j + 1] =
              static_cast<uint32_t>(float_to_bf16(lo[j])) | (static_cast<uint32_t>(float_to_bf16(hi[j])) << 16);
      } else {
        for (int64_t j = 0; j < W; ++j) d[j + 1] = float_to_bf16(lo[j]);
      }
    }
  }
}

// Where one tile reads and writes: x0 = word image at (c2 0, padded row i, padded column j), so tap
// (p, q) of channel pair c2 is at x0 + c2 * plane + p * Wp + q; wb = the block's (C2, 9, kOB) words;
// y0 = output (o 0, i, j), row o at y0 + o * HW; nout <= kOB rows stored; npix <= kPx pixels.
struct Tile {
  const uint32_t* x0;
  int64_t plane, Wp, C2;
  const uint32_t* wb;
  float* y0;
  int64_t HW;
  int nout, npix;
  const float* bias;  // the block's first bias, or nullptr
};

template <bool Tail>
void tile_fma(const Tile& t) {
  float acc[kOB][kPx] = {};
  for (int64_t c2 = 0; c2 < t.C2; ++c2) {
    for (int p = 0; p < 3; ++p) {
      for (int q = 0; q < 3; ++q) {
        const uint32_t* xr = t.x0 + c2 * t.plane + p * t.Wp + q;
        float xh[kPx], xl[kPx];
        for (int v = 0; v < kPx; ++v) {
          const uint32_t u = (!Tail || v < t.npix) ? xr[v] : 0u;
          xh[v] = word_hi(u);
          xl[v] = word_lo(u);
        }
        const uint32_t* wt = t.wb + (c2 * 9 + p * 3 + q) * kOB;
        for (int o = 0; o < kOB; ++o) {
          const float wh = word_hi(wt[o]), wl = word_lo(wt[o]);
          for (int v = 0; v < kPx; ++v) {
            acc[o][v] += wh * xh[v];
            acc[o][v] += wl * xl[v];
          }
        }
      }
    }
  }
  for (int o = 0; o < t.nout; ++o) {
    const float b = t.bias ? t.bias[o] : 0.0f;
    float* yr = t.y0 + o * t.HW;
    for (int v = 0; v < t.npix; ++v) yr[v] = acc[o][v] + b;
  }
}

#if defined(__AVX512F__)
constexpr int kVec = kPx / 16;
static_assert(kPx % 16 == 0, "kBf16Pixels must be a multiple of 16");

// NV vectors of 16 pixels (NV = kVec for full runs, fewer for the last run of a row, so that a row
// of 16 k pixels wastes no dot products); Mask: the last vector is partial (W not a multiple of 16).
template <int NV, bool Mask>
__attribute__((target("avx512bf16"))) void tile_dot(const Tile& t) {
  __m512 acc[kOB][NV];
  for (int o = 0; o < kOB; ++o)
    for (int v = 0; v < NV; ++v) acc[o][v] = _mm512_setzero_ps();
  const int rem = t.npix - 16 * (NV - 1);
  const __mmask16 last = rem >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << rem) - 1u);
  for (int64_t c2 = 0; c2 < t.C2; ++c2) {
    const uint32_t* xc = t.x0 + c2 * t.plane;
    const uint32_t* wc = t.wb + c2 * 9 * kOB;
    for (int p = 0; p < 3; ++p) {
      for (int q = 0; q < 3; ++q) {
        const uint32_t* xr = xc + p * t.Wp + q;
        __m512i xv[NV];
        for (int v = 0; v < NV; ++v)
          xv[v] = (Mask && v == NV - 1) ? _mm512_maskz_loadu_epi32(last, xr + 16 * v) : _mm512_loadu_si512(xr + 16 * v);
        const uint32_t* wt = wc + (p * 3 + q) * kOB;
        for (int o = 0; o < kOB; ++o) {
          const __m512i wv = _mm512_set1_epi32(static_cast<int>(wt[o]));
          for (int v = 0; v < NV; ++v) acc[o][v] = _mm512_dpbf16_ps(acc[o][v], (__m512bh)xv[v], (__m512bh)wv);
        }
      }
    }
  }
  for (int o = 0; o < t.nout; ++o) {
    const __m512 b = _mm512_set1_ps(t.bias ? t.bias[o] : 0.0f);
    float* yr = t.y0 + o * t.HW;
    for (int v = 0; v < NV; ++v) {
      const __m512 r = _mm512_add_ps(acc[o][v], b);
      if (Mask && v == NV - 1)
        _mm512_mask_storeu_ps(yr + 16 * v, last, r);
      else
        _mm512_storeu_ps(yr + 16 * v, r);
    }
  }
}

void run_tile_dot(const Tile& t) {
  static_assert(kVec == 3, "run_tile_dot dispatches 1..3 vectors");
  const int nv = (t.npix + 15) / 16;
  const bool mask = t.npix % 16 != 0;
  switch (nv * 2 + (mask ? 1 : 0)) {
    case 2: tile_dot<1, false>(t); break;
    case 3: tile_dot<1, true>(t); break;
    case 4: tile_dot<2, false>(t); break;
    case 5: tile_dot<2, true>(t); break;
    case 6: tile_dot<3, false>(t); break;
    default: tile_dot<3, true>(t); break;
  }
}
#endif

template <bool Dot>
void run_tile(const Tile& t) {
#if defined(__AVX512F__)
  if constexpr (Dot) {
    run_tile_dot(t);
    return;
  }
#endif
  if (t.npix == kPx)
    tile_fma<false>(t);
  else
    tile_fma<true>(t);
}

template <bool Dot>
void conv3x3_bf16(const Tensor<float, Cpu>& x,  // (N, Cin, H, W)
                  const uint32_t* wpacked, int64_t Cout,
                  const float* bias,        // (Cout) or nullptr
                  Tensor<float, Cpu>& y,    // (N, Cout, H, W)
                  uint32_t* work, int64_t work_words) {  // bands of bf16_band_words words
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w();
  const int64_t C2 = (Cin + 1) / 2, Wp = W + 2, HW = H * W;
  const int64_t blocks = (Cout + kOB - 1) / kOB;
  if (N == 0 || HW == 0 || Cout == 0) return;
  const int64_t R = bf16_band_rows(Cin, H, W), band_words = bf16_band_words(Cin, H, W);
  const int64_t plane = (R + 2) * Wp;
  const int64_t bands_per_sample = (H + R - 1) / R, units = N * bands_per_sample;
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>({detail::conv_max_threads(), units, work_words / band_words}));

  auto run_band = [&](int64_t u, uint32_t* band) {
    const int64_t n = u / bands_per_sample, r0 = (u % bands_per_sample) * R, r1 = std::min(H, r0 + R);
    pack_band(x.sample(n), Cin, H, W, r0, r1, R, band);
    float* ys = y.sample(n);
    for (int64_t i = r0; i < r1; ++i) {
      for (int64_t b = 0; b < blocks; ++b) {
        // Runs of kPx pixels; a remainder of 16 after a full run becomes two runs of 32 (fewer
        // one-vector tiles, which broadcast each weight for a single dot product).
        for (int64_t j = 0, len = 0; j < W; j += len) {
          len = W - j == kPx + 16 ? 32 : std::min<int64_t>(kPx, W - j);
          Tile t;
          t.x0 = band + (i - r0) * Wp + j;
          t.plane = plane;
          t.Wp = Wp;
          t.C2 = C2;
          t.wb = wpacked + b * C2 * 9 * kOB;
          t.y0 = ys + b * kOB * HW + i * W + j;
          t.HW = HW;
          t.nout = static_cast<int>(std::min<int64_t>(kOB, Cout - b * kOB));
          t.npix = static_cast<int>(len);
          t.bias = bias ? bias + b * kOB : nullptr;
          run_tile<Dot>(t);
        }
      }
    }
  };
  detail::for_each_band(units, static_cast<int>(threads), work, band_words, run_band);
}

}  // namespace

void register_conv2d_bf16(::srmds::cpu::detail::KernelTable& table) {
  table.bf16.conv3x3_fma = &conv3x3_bf16<false>;
#if defined(__AVX512F__)
  table.bf16.conv3x3_dot = &conv3x3_bf16<true>;
#endif
}

}  // namespace srmds::cpu::SRMDS_CPU_ISA
