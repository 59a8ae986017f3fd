// CPU 3x3 convolution in bf16 by Winograd's F(2x2, 3x3) (the fused blocks' bf16 inference path for
// Cin >= 16, nets/precision.hpp). For every 2x2 output tile t with its 4x4 input patch d (rows and
// columns 2t-1 .. 2t+2, zero outside), as in cpu/conv2d_winograd.hpp:
//   U[o, c] = bf16(G g[o, c] G^T)                  (4x4, computed in double, rounded to fp32 and then
//                                                   to bf16; packed once per weight)
//   V[c, t] = bf16(B^T d[c, t] B)                  (4x4, computed in fp32: e = B^T d, then e B)
//   M[o, t] = sum_c U[o, c] . V[c, t]              (elementwise in the 4x4: 16 GEMMs, fp32 sums)
//   y tile  = A^T M[o, t] A + b[o]                 (2x2 in fp32; outputs beyond H or W dropped)
// with bf16(v) the nearest bf16 (cpu/conv2d_bf16.hpp). The transforms' coefficients are 0, +-1 and
// +-1/2, so |V| is at most 4 max |d| and |U| at most 9/4 max |g|, and rounding U and V to bf16 costs
// about what rounding x and w does in the direct bf16 convolution (cpu/conv2d_bf16.hpp), for 2.25x
// fewer multiplications (16 per tile and channel pair, not 36). Every product of two bf16 values is
// exact in fp32; what the kernel may miss the exact value of the formula above by is the fp32
// rounding of the Cin-term sums of M and of the (at most 5-deep) additions of the output transform:
//   |y - y_exact(U, V)| <= (Cin + 6) 2^-24 (|b| + sum_k |A_k| sum_c |U_k V_k|)
// (tests/test_conv2d_winograd_bf16.cpp checks it).
//
// Layout. Input channels in pairs as in the direct kernel (one 32-bit word = bf16 of channel 2 c2 in
// its low half, of 2 c2 + 1 in its high half; an odd Cin gets a zero channel). The weights are
// packed once (pack_winograd3x3_bf16) as [16 positions][Cout / kBf16OutBlock][Cin2][kBf16OutBlock]
// words, Cout padded with zero filters. The output is computed in bands of tile rows
// (winograd_bf16_band_rows: at least kWinoBf16BandTiles tiles, at least one band per thread), one
// band per thread at a time, in its part of the workspace: V (16, Cin2p, T16) words and M (16,
// Coutp, T16) floats (padded to 16 rows, see Kernels), T16 = the band's tile count rounded up to a multiple of 16 (the padding tiles are
// zero and their M is never read), plus 12 rows of 2 ceil(W / 2) + 4 floats for the transforms. Per position k
// the GEMM runs in register tiles of kBf16OutBlock output channels x 48 tiles (fewer 16-tile vectors
// at the end of a band), Cin2 dot-product steps each.
//
// Kernels (chosen at run time, cpu/isa.hpp): the avx512 variant's AMX GEMM (TDPBF16PS on 16 x 16
// fp32 tiles; U then also packed as (16, Coutp, Cin2p) words, Coutp and Cin2p = Cout and Cin2
// rounded up to 16, zero padded: V's rows Cin2 .. Cin2p are zeroed for it) where the processor has
// AMX-BF16 and the kernel grants tile data (bf16_amx_active()); else its _mm512_dpbf16_ps GEMM where
// the processor has AVX512_BF16 (bf16_dot_products_active(), as for the direct bf16 convolution);
// else the fp32 kernel of the variant in use, which widens each bf16 to fp32 and multiplies and adds
// in the order VDPBF16PS does (the same result up to its flushing of denormals). All three sum each
// M value's Cin products in fp32 with one rounding per product (the bound above); they differ in
// the order. The workspace rows are laid out for all three: V (16, Cin2p, T16), M (16, Coutp, T16).
// Declarations only:
// src/cpu/conv2d_winograd_bf16.cpp (kernels, once per ISA level) and
// src/cpu/dispatch/conv2d_winograd_bf16.cpp (packing, checks, workspace, the choice).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "srmds/core/tensor.hpp"
#include "srmds/cpu/conv2d_bf16.hpp"

namespace srmds::cpu {

inline constexpr int64_t kWinoBf16BandTiles = 96;  // tiles per band (aim; 2 register tiles of 48)

// Tile rows per band for (., ., H, W) inputs and `threads` threads: enough rows for
// kWinoBf16BandTiles tiles, but no more than gives every thread one band of the N samples (at
// least 1, at most the tile rows of the image).
inline int64_t winograd_bf16_band_rows(int64_t n, int64_t h, int64_t w, int64_t threads) {
  const int64_t th = (h + 1) / 2, tw = (w + 1) / 2;
  if (th <= 0 || tw <= 0) return 1;
  int64_t rows = (kWinoBf16BandTiles + tw - 1) / tw;
  const int64_t want_bands = (threads + n - 1) / (n > 0 ? n : 1);  // per sample
  rows = std::min(rows, (th + want_bands - 1) / want_bands);
  return std::max<int64_t>(1, std::min(rows, th));
}
// n rounded up to a multiple of 16 (the AMX kernel's tile size: channel pairs, output channels).
inline int64_t winograd_bf16_pad16(int64_t n) { return (n + 15) / 16 * 16; }

// 32-bit words of one band's workspace (layout above) for inputs (N, Cin, H, W) -> Cout channels.
inline int64_t winograd_bf16_band_words(int64_t cin, int64_t cout, int64_t n, int64_t h, int64_t w,
                                        int64_t threads) {
  const int64_t tw = (w + 1) / 2, tiles = winograd_bf16_band_rows(n, h, w, threads) * tw;
  const int64_t t16 = (tiles + 15) / 16 * 16;
  return 16 * (winograd_bf16_pad16((cin + 1) / 2) + winograd_bf16_pad16(cout)) * t16 + 12 * (2 * tw + 4);
}

// The packed transformed bf16 weights of a (Cout, Cin, 3, 3) convolution (layout above).
struct Bf16Winograd3x3Weights {
  int64_t cout = 0, cin = 0;
  std::vector<uint32_t> packed;  // (16, ceil(Cout / kBf16OutBlock), ceil(Cin / 2), kBf16OutBlock)
  std::vector<uint32_t> amx;     // (16, Coutp, Cin2p): for the AMX kernel, where it is available
  bool empty() const { return packed.empty(); }
};

// U = G w G^T per (o, c) in double, rounded to bf16, packed.
Bf16Winograd3x3Weights pack_winograd3x3_bf16(const Tensor<float, Cpu>& w);

// Workspace words conv3x3_winograd_bf16_forward uses for inputs (N, Cin, H, W) -> Cout with every
// OpenMP thread busy: one band per thread.
int64_t conv3x3_winograd_bf16_workspace(int64_t cin, int64_t cout, int64_t n, int64_t h, int64_t w);

// y = the F(2x2, 3x3) bf16 convolution above + bias. x and y may be strided channel views (each
// sample's channels contiguous planes). workspace: workspace_words 32-bit words, at least one band
// (winograd_bf16_band_words for the threads in use; fewer threads run when it holds fewer bands);
// nullptr allocates conv3x3_winograd_bf16_workspace.
void conv3x3_winograd_bf16_forward(const Tensor<float, Cpu>& x,         // (N, Cin, H, W)
                                   const Bf16Winograd3x3Weights& w,     // (Cout, Cin, 3, 3) packed
                                   const Tensor<float, Cpu>* bias,      // (Cout) or nullptr
                                   Tensor<float, Cpu>& y,               // (N, Cout, H, W)
                                   uint32_t* workspace, int64_t workspace_words);

// Whether this processor, kernel and build have the AMX-BF16 GEMM (Linux grants the process tile
// data, asked once), and whether it is the one in use (available, not switched off, the avx512
// kernel variant running). Where it is, it is taken over the VDPBF16PS and fp32 ones.
bool bf16_amx_available();
bool bf16_amx_active();

namespace detail {
// For tests and benchmarks: use (true, the default) or avoid (false) the AMX kernel.
void set_bf16_amx(bool use);
}  // namespace detail

}  // namespace srmds::cpu
