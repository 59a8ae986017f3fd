// Building blocks of the CPU im2col convolution: im2col over a band of image rows and the row-band
// tiling plan (band_loop.hpp runs the bands in parallel).
//
// For a stride-1 "same" convolution with kernel kh x kw (kh, kw in {1, 3}, padding kh/2, kw/2), the
// band of output rows [r0, r1) of one sample needs
//   col[(c*kh + p)*kw + q, (i - r0)*W + j] = x[c, i + p - kh/2, j + q - kw/2]   (0 outside the image)
// a (Cin*kh*kw) x ((r1 - r0)*W) row-major matrix; then y[:, band] = Wmat (Cout x Cin*kh*kw) * col.
// Bands keep the extra memory bounded (a few MB per thread) however large the image is.
// Internal to the kernels (src/cpu/conv2d.cpp): one copy per ISA variant.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "band_loop.hpp"
#include "variant.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA::detail {

// Bytes of im2col scratch per thread and band that we aim for (fits a core's L2 on current x86),
// unless that leaves fewer than kConvMinBandCols GEMM columns: with many input channels (one row
// of im2col is Cin*9*W values) narrower bands spend more time packing the weights than multiplying.
inline constexpr int64_t kConvTileBytes = int64_t(1) << 20;
inline constexpr int64_t kConvMinBandCols = 192;

// Fills the im2col band for output rows [r0, r1) of one sample.
template <class T>
void im2col_rows(const T* x,  // (C, H, W), one contiguous sample
                 int64_t C, int64_t H, int64_t W, int kh, int kw, int64_t r0, int64_t r1,
                 T* col) {  // (C*kh*kw, (r1 - r0)*W)
  const int64_t n = (r1 - r0) * W;
  const int ph = kh / 2, pw = kw / 2;
  for (int64_t c = 0; c < C; ++c) {
    for (int p = 0; p < kh; ++p) {
      for (int q = 0; q < kw; ++q) {
        T* dst = col + ((c * kh + p) * kw + q) * n;
        const int dq = q - pw;
        for (int64_t i = r0; i < r1; ++i) {
          T* d = dst + (i - r0) * W;
          const int64_t src_row = i + p - ph;
          if (src_row < 0 || src_row >= H) {
            std::fill(d, d + W, T(0));
            continue;
          }
          const T* s = x + (c * H + src_row) * W;
          if (dq == 0) {
            std::memcpy(d, s, static_cast<size_t>(W) * sizeof(T));
          } else if (dq < 0) {  // d[j] = s[j - 1]
            d[0] = T(0);
            if (W > 1) std::memcpy(d + 1, s, static_cast<size_t>(W - 1) * sizeof(T));
          } else {  // d[j] = s[j + 1]
            if (W > 1) std::memcpy(d, s + 1, static_cast<size_t>(W - 1) * sizeof(T));
            d[W - 1] = T(0);
          }
        }
      }
    }
  }
}

// How the rows of every sample are cut into bands, and how many threads work on them.
struct RowTiling {
  int64_t rows = 1;              // rows of the tallest band (bands differ by at most one row)
  int64_t bands_per_sample = 0;  // B
  int64_t units = 0;             // N * B, the parallel work items
  int threads = 1;               // threads that run bands in parallel (1: bands run in sequence)

  // Unit u is band b of sample n: rows [b*H/B, (b+1)*H/B).
  void band(int64_t u, int64_t H, int64_t& n, int64_t& r0, int64_t& r1) const {
    n = u / bands_per_sample;
    const int64_t b = u % bands_per_sample;
    r0 = b * H / bands_per_sample;
    r1 = (b + 1) * H / bands_per_sample;
  }
};

// Bands of about tile_bytes (bytes_per_row: scratch per image row of width W) and at least
// min_cols columns, but at least one band per thread when the batch alone does not give every
// thread a sample; when there are few bands, their number is a multiple of the thread count.
inline RowTiling plan_row_tiles(int64_t N, int64_t H, int64_t W, int64_t bytes_per_row, int64_t tile_bytes,
                                int64_t min_cols, int max_threads) {
  RowTiling t;
  if (N <= 0 || H <= 0) return t;
  const int64_t by_bytes = tile_bytes / std::max<int64_t>(bytes_per_row, 1);
  const int64_t by_cols = (min_cols + W - 1) / std::max<int64_t>(W, 1);
  const int64_t rows = std::clamp<int64_t>(std::max(by_bytes, by_cols), 1, H);
  int64_t bands = (H + rows - 1) / rows;
  const int64_t threads = std::max(max_threads, 1);
  if (N * bands < 8 * threads)
    while ((N * bands) % threads != 0 && bands < H) ++bands;
  t.bands_per_sample = bands;
  t.rows = (H + bands - 1) / bands;
  t.units = N * bands;
  t.threads = static_cast<int>(std::min<int64_t>(threads, t.units));
  return t;
}

}  // namespace srmds::cpu::SRMDS_CPU_ISA::detail
