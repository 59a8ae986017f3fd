// Launch geometry of the CUDA kernels (kernels/launch_geometry.hpp): plain C++, checked here
// without a GPU against CUDA's launch limits at the extremes (N C > 65,535 planes, H W > 2^24
// pixels) and at the network's real shapes (512 x 512, batch 16, base 64).
#include <catch2/catch.hpp>

#include <cstdint>

#include "kernels/launch_geometry.hpp"
#include "srmds/nets/layout.hpp"

using namespace srmds;
using namespace srmds::cuda::detail;

namespace {

constexpr int64_t kCudaMaxGridX = (int64_t(1) << 31) - 1;
constexpr int64_t kCudaMaxGridY = 65535;

// Within CUDA's limits, and the grid-stride loops of rows_kernel cover the extent in a bounded
// number of passes per thread (rows r = blockIdx.y + k gridDim.y; elements i = blockIdx.x blockDim.x
// + threadIdx.x + k gridDim.x blockDim.x).
void check_extent(const Extent& e) {
  INFO("extent " << e.rows << " x " << e.len);
  const Grid g = grid_for(e);
  CHECK(g.x >= 1);
  CHECK(g.y >= 1);
  CHECK(int64_t(g.x) <= kCudaMaxGridX);
  CHECK(int64_t(g.y) <= kCudaMaxGridY);
  const int64_t row_passes = (e.rows + g.y - 1) / g.y;
  const int64_t elem_passes = (e.len + int64_t(g.x) * kThreads - 1) / (int64_t(g.x) * kThreads);
  // a row of up to 2^24 elements takes one pass, up to 65,535 rows one pass, and no extent here
  // more than 2^16
  if (e.len <= (int64_t(1) << 24)) CHECK(elem_passes <= 1);
  if (e.rows <= kCudaMaxGridY) CHECK(row_passes <= 1);
  CHECK(row_passes * elem_passes <= (int64_t(1) << 16));
}

void check_reduction(int sm_count, int64_t rows, int64_t inner) {
  INFO("reduction: " << sm_count << " SMs, " << rows << " rows of " << inner);
  const int64_t splits = reduction_splits(sm_count, rows, inner);
  CHECK(splits >= 1);
  CHECK(splits <= kMaxSplits);
  CHECK(splits <= std::max<int64_t>(1, (inner + kThreads - 1) / kThreads));  // no block without work
  const Grid g = reduction_grid(splits, rows);
  CHECK(int64_t(g.x) == splits);
  CHECK(int64_t(g.y) <= kCudaMaxGridY);
  CHECK(g.y >= 1);
  // enough blocks to fill the device when the work allows (each block takes kThreads-chunks)
  if (rows > 0 && rows * ((inner + kThreads - 1) / kThreads) >= int64_t(sm_count) * kBlocksPerSm)
    CHECK(rows * splits >= std::min<int64_t>(int64_t(sm_count) * kBlocksPerSm, rows * kMaxSplits));
}

}  // namespace

TEST_CASE("block size: a power of two and whole warps", "[geometry]") {
  STATIC_REQUIRE(kThreads % 32 == 0);
  STATIC_REQUIRE((kThreads & (kThreads - 1)) == 0);
  STATIC_REQUIRE(kThreads <= 1024);
  STATIC_REQUIRE(kMaxGridY == kCudaMaxGridY);
  STATIC_REQUIRE(kMaxGridX <= kCudaMaxGridX);
}

TEST_CASE("elementwise grids stay within CUDA's limits at the extremes", "[geometry]") {
  for (const Extent e : {Extent{0, 0}, Extent{1, 0}, Extent{0, 5}, Extent{1, 1}, Extent{1, kThreads},
                         Extent{1, kThreads + 1}, Extent{65535, 1}, Extent{65536, 1},
                         Extent{16 * 8192, 32 * 32},            // N C > 65,535 planes
                         Extent{1, (int64_t(1) << 24) + 1},     // H W > 2^24 pixels
                         Extent{3, int64_t(1) << 31},           // one row past 2^31 elements
                         Extent{int64_t(1) << 31, 1}})
    check_extent(e);
  CHECK(grid_for(Extent{0, 0}).x == 1);  // an empty extent is never launched; its grid is still valid
  const Grid planes = grid_for(plane_extent(Shape{16, 8192, 32, 32}));
  CHECK(planes.y == 65535);
  CHECK(planes.x == 4);
  const Grid pixels = grid_for(plane_extent(Shape{1, 1, 8192, 4097}));  // 33,562,624 > 2^24 pixels
  CHECK(pixels.x == kMaxGridX);
  CHECK(pixels.y == 1);
  CHECK(row_extent(Shape{5}).rows == 1);
  CHECK(row_extent(Shape{5}).len == 5);
  CHECK(row_extent(Shape{2, 3, 4, 5}).len == 60);
}

TEST_CASE("per-item and per-block grids", "[geometry]") {
  CHECK(blocks_for(0) == 1);
  CHECK(blocks_for(1) == 1);
  CHECK(blocks_for(kThreads) == 1);
  CHECK(blocks_for(kThreads + 1) == 2);
  for (int64_t n : {int64_t(1), int64_t(255), int64_t(65536), int64_t(1) << 30, int64_t(1) << 38}) {
    INFO("n " << n);
    CHECK(int64_t(blocks_for(n)) * kThreads >= n);  // one thread per item, no loop
    CHECK(int64_t(blocks_for(n)) <= kCudaMaxGridX);
    CHECK(item_blocks(n) >= 1);
    CHECK(int64_t(item_blocks(n)) <= kMaxItemBlocks);
    CHECK(block_per_item(n) >= 1);
    CHECK(int64_t(block_per_item(n)) <= kCudaMaxGridY);
  }
  CHECK(block_per_item(0) == 1);
  CHECK(block_per_item(16 * 8192) == 65535);  // plane_max_kernel over N C > 65,535 planes loops
}

TEST_CASE("reduction splits fill the device and stay within the limits", "[geometry]") {
  for (int sms : {1, 108, 132, 144})
    for (int64_t rows : {int64_t(0), int64_t(1), int64_t(3), int64_t(64), int64_t(65535), int64_t(16 * 8192)})
      for (int64_t inner : {int64_t(0), int64_t(1), int64_t(kThreads), int64_t(1) << 18, (int64_t(1) << 24) + 1})
        check_reduction(sms, rows, inner);
  CHECK(reduction_splits(132, 1, int64_t(1) << 24) == 528);  // one row: 4 blocks per SM
  CHECK(reduction_splits(132, 1, 100) == 1);                 // a short row: one block
  CHECK(reduction_splits(132, 1, int64_t(1) << 30) == 528);
  CHECK(reduction_splits(8, 1, int64_t(1) << 30) == 32);
  CHECK(reduction_splits(1024, 1, int64_t(1) << 30) == kMaxSplits);
}

TEST_CASE("the network's shapes at 512 x 512, batch 16, base 64", "[geometry]") {
  NetConfig cfg;  // base 64
  const int64_t N = 16;
  for (const StageSpec& st : stage_specs(cfg)) {
    const int64_t h = 512 >> st.level, w = 512 >> st.level;
    for (const int64_t c : {st.cin, st.cmid, st.cout}) {
      const Shape s{N, c, h, w};
      INFO(st.name << " " << s);
      check_extent(row_extent(s));
      check_extent(plane_extent(s));
      check_extent(Extent{N, h * w});  // per-pixel kernels (psa, cbam, sge maps)
      for (int sms : {132, 144}) {
        check_reduction(sms, c, h * w);      // BatchNorm: a row per channel, N passes of H W
        check_reduction(sms, N * c, h * w);  // plane sums (SE, CBAM, SGE, PSA)
        check_reduction(sms, N, c * h * w);  // per-sample sums (loss, metrics)
      }
      CHECK(int64_t(blocks_for(c)) <= kCudaMaxGridX);
      CHECK(int64_t(block_per_item(N * c)) <= kCudaMaxGridY);
      // the reduction's partials stay small: rows x splits x 4 doubles
      CHECK(N * c * reduction_splits(144, N * c, h * w) * 4 * 8 <= (int64_t(64) << 20));
    }
  }
}
