// Launch geometry of the hand-written kernels (kernels/*.cu): the block size, the grid of an
// elementwise kernel, the blocks of a per-item kernel, and how many blocks share a row of a
// reduction. Plain C++ (no CUDA headers), so the CPU test suite checks it at the extremes
// (tests/test_cuda_geometry.cpp); common.cuh turns a Grid into a dim3.
//
// CUDA's limits: gridDim.x <= 2^31 - 1, gridDim.y <= 65535, blockDim.x <= 1024. Our grids stay
// below them by looping: every kernel walks its rows, planes or items with a grid stride, so any
// grid within the limits covers any extent.
#pragma once

#include <algorithm>
#include <cstdint>

#include "srmds/core/shape.hpp"

namespace srmds::cuda::detail {

// Threads per block of every kernel (each declares __launch_bounds__(kThreads), or its own
// constexpr block size). The block reductions (block_sum, plane_max_kernel's tree) need a power
// of two that is a multiple of the warp size.
constexpr int kThreads = 256;
static_assert(kThreads % 32 == 0 && (kThreads & (kThreads - 1)) == 0 && kThreads <= 1024,
              "kThreads: a power of two, a multiple of 32, at most 1024");

constexpr int64_t kMaxGridY = 65535;              // CUDA's bound on gridDim.y (and z)
constexpr int64_t kMaxGridX = int64_t(1) << 16;   // our cap on gridDim.x; past it, threads loop
constexpr int64_t kMaxItemBlocks = 4096;          // cap of the one-thread-per-parameter kernels
constexpr int64_t kMaxSplits = 1024;              // most blocks per row of a reduction
constexpr int64_t kBlocksPerSm = 4;               // a reduction's target occupancy

struct Grid {
  unsigned x = 1, y = 1;
};

// A rank-4 tensor is N rows (samples) of C*H*W elements; any other tensor is one row.
inline int64_t row_count(const Shape& s) { return s.rank() == 4 ? s.n() : 1; }
inline int64_t row_length(const Shape& s) { return s.rank() == 4 ? s.c() * s.h() * s.w() : s.numel(); }

// The work of an elementwise kernel: `rows` rows of `len` elements.
struct Extent {
  int64_t rows = 0, len = 0;
  bool empty() const { return rows <= 0 || len <= 0; }
};
// Rows as rows_of() sees a tensor (samples of C*H*W, or one row), planes as planes_of() does.
inline Extent row_extent(const Shape& s) { return {row_count(s), row_length(s)}; }
inline Extent plane_extent(const Shape& s) { return {s.n() * s.c(), s.h() * s.w()}; }

// Blocks for an extent: grid.y walks the rows (looping past 65535), grid.x covers a row (looping
// past kMaxGridX blocks).
inline Grid grid_for(const Extent& e) {
  const int64_t y = std::max<int64_t>(1, std::min(e.rows, kMaxGridY));
  const int64_t x = std::max<int64_t>(1, std::min((e.len + kThreads - 1) / kThreads, kMaxGridX));
  return {static_cast<unsigned>(x), static_cast<unsigned>(y)};
}

// Blocks for one thread per item of a small per-channel or per-sample array (the kernel does not
// loop: gridDim.x's bound allows 2^39 items).
inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, (n + kThreads - 1) / kThreads));
}

// Blocks for one thread per item of a large array walked with a grid stride (parameter
// gradients): at most kMaxItemBlocks.
inline unsigned item_blocks(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>(blocks_for(n), kMaxItemBlocks));
}

// Blocks for one block per item walked with a grid stride (plane_max_kernel's planes).
inline unsigned block_per_item(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(n, kMaxGridY)));
}

// Blocks per row of a reduction over `rows` rows of `inner` terms (each block sums a strided part
// of the row): about kBlocksPerSm blocks per SM in all, no more than there are kThreads-chunks in
// the row, at most kMaxSplits. The grid is (splits, min(rows, kMaxGridY)); rows past that loop.
inline int64_t reduction_splits(int sm_count, int64_t rows, int64_t inner) {
  const int64_t target_blocks = int64_t(std::max(sm_count, 1)) * kBlocksPerSm;
  const int64_t max_useful = std::max<int64_t>(1, (inner + kThreads - 1) / kThreads);
  return std::max<int64_t>(
      1, std::min<int64_t>({(target_blocks + rows - 1) / std::max<int64_t>(rows, 1), max_useful, kMaxSplits}));
}
inline Grid reduction_grid(int64_t splits, int64_t rows) {
  return {static_cast<unsigned>(splits), static_cast<unsigned>(std::max<int64_t>(1, std::min(rows, kMaxGridY)))};
}

}  // namespace srmds::cuda::detail
