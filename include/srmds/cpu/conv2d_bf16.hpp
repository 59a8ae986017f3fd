// CPU 3x3 convolution in bf16 (the fused blocks' bf16 inference path, nets/precision.hpp):
//   y[n, o, i, j] = b[o] + sum_{c, p, q} bf16(w[o, c, p, q]) * bf16(x[n, c, i + p - 1, j + q - 1])
// stride 1, zero "same" padding, with bf16(v) = v rounded to the nearest bf16 (8-bit significand,
// ties to even) and every product and sum accumulated in fp32. A product of two bf16 values is exact
// in fp32, so the only rounding is that of the fp32 sums.
//
// Layout. Input channels are taken in pairs (c = 2 c2, 2 c2 + 1; an odd Cin gets a zero channel):
// one 32-bit word holds bf16(v[2 c2]) in its low half and bf16(v[2 c2 + 1]) in its high half, as
// AVX512_BF16's VDPBF16PS expects (acc += lo * lo' + hi * hi', the high products first). The weights
// are packed once (pack_conv3x3_bf16) as [Cout / kBf16OutBlock][Cin2][9 taps][kBf16OutBlock] words,
// Cout padded with zero filters to a multiple of kBf16OutBlock. The output is computed in bands of
// R rows (bf16_band_rows: about kBf16BandBytes of packed input per band), one band per thread at a
// time: the thread packs input rows r0 - 1 .. r0 + R of every channel pair into its own
// zero-bordered (Cin2, R + 2, W + 2) word image (its part of the workspace), then every output row
// and block of kBf16OutBlock output channels of the band is a direct convolution over it in runs of
// kBf16Pixels pixels (a row's last run only as many 16-pixel vectors as it needs): 9 * Cin2
// dot-product steps per register tile, no im2col. The packed band is used while it is in cache and
// the workspace stays a few MB however large the image (two halo rows per band are packed twice).
//
// Kernels (chosen at run time like the others, cpu/isa.hpp): on processors with AVX512_BF16 the
// avx512 variant uses _mm512_dpbf16_ps; everywhere else (and when switched off with
// detail::set_bf16_dot_products(false), for tests) an fp32 kernel that widens each bf16 to fp32
// and multiplies and adds in the same order (the same result up to VDPBF16PS's flushing of
// denormals). Declarations only: src/cpu/conv2d_bf16.cpp (kernels, once per ISA level) and
// src/cpu/dispatch/conv2d_bf16.cpp (packing, entry point).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

inline constexpr int kBf16OutBlock = 8;  // output channels per register tile
inline constexpr int kBf16Pixels = 48;   // pixels per register tile (3 vectors of 16)
inline constexpr int64_t kBf16BandBytes = int64_t(1) << 20;  // packed input per band (aim)

// Output rows per band for inputs (., Cin, H, W): the most whose packed band, (Cin2, R + 2, W + 2)
// words, fits kBf16BandBytes, at least 1 and at most H; and the words of one band (plus 16 words of
// slack, so that a masked vector load at the end of the last row stays inside the buffer even for
// tools that check the whole vector).
inline int64_t bf16_band_rows(int64_t cin, int64_t h, int64_t w) {
  const int64_t row_bytes = (cin + 1) / 2 * (w + 2) * 4;
  int64_t r = row_bytes > 0 ? kBf16BandBytes / row_bytes - 2 : h;
  if (r > h) r = h;
  return r < 1 ? 1 : r;
}
inline int64_t bf16_band_words(int64_t cin, int64_t h, int64_t w) {
  return (cin + 1) / 2 * (bf16_band_rows(cin, h, w) + 2) * (w + 2) + 16;
}

// fp32 -> bf16 bits, round to nearest even (NaN stays a quiet NaN); bf16 bits -> fp32 (exact).
// Branch-free, so that packing loops vectorise.
inline uint16_t float_to_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}
inline float bf16_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}
// v rounded to the nearest bf16, as fp32.
inline float round_to_bf16(float v) { return bf16_to_float(float_to_bf16(v)); }

// The packed bf16 weights of a (Cout, Cin, 3, 3) convolution (layout above).
struct Bf16Conv3x3Weights {
  int64_t cout = 0, cin = 0;
  std::vector<uint32_t> packed;  // (ceil(Cout / kBf16OutBlock), ceil(Cin / 2), 9, kBf16OutBlock)
  bool empty() const { return packed.empty(); }
};

// Rounds w (Cout, Cin, 3, 3) to bf16 and packs it.
Bf16Conv3x3Weights pack_conv3x3_bf16(const Tensor<float, Cpu>& w);

// 32-bit words of workspace conv3x3_bf16_forward uses for inputs (N, Cin, H, W) with every OpenMP
// thread busy: one band per thread (omp_get_max_threads() x bf16_band_words).
int64_t conv3x3_bf16_workspace(int64_t cin, int64_t h, int64_t w);

// y = conv3x3(bf16(x), bf16(w)) + bias with fp32 accumulation. x and y may be strided channel views.
// workspace: workspace_words 32-bit words, at least bf16_band_words(Cin, H, W) (one band: fewer
// threads run when it holds fewer bands than threads); nullptr allocates conv3x3_bf16_workspace.
void conv3x3_bf16_forward(const Tensor<float, Cpu>& x,     // (N, Cin, H, W)
                          const Bf16Conv3x3Weights& w,     // (Cout, Cin, 3, 3) packed
                          const Tensor<float, Cpu>* bias,  // (Cout) or nullptr
                          Tensor<float, Cpu>& y,           // (N, Cout, H, W)
                          uint32_t* workspace, int64_t workspace_words);

// Whether this processor and build have the AVX512_BF16 kernel, and whether it is the one in use
// (available, not switched off, and the avx512 kernel variant is the one running).
bool bf16_dot_products_available();
bool bf16_dot_products_active();

namespace detail {
// For tests and benchmarks: use (true, the default) or avoid (false) the AVX512_BF16 kernel.
void set_bf16_dot_products(bool use);
}  // namespace detail

}  // namespace srmds::cpu
