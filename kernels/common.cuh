// Shared by the hand-written kernels in kernels/*.cu (internal, not installed): how kernels see
// tensors (rows and planes, so strided channel views cost nothing), the generic elementwise kernel
// and its launch geometry, the launch check, and deterministic block reductions (partial sums per
// row in double, combined in a fixed order; no float atomics).
//
// Each kernels/<op>.cu has the same three layers, forward first, then backward:
//   kernel    a __global__ function, or a per-element functor run by rows_kernel<F>;
//   launcher  <op>_launch(typed pointers and extents..., cudaStream_t): launches on the stream and
//             checks cudaGetLastError() (check_launch);
//   op        cuda::<op>(Context<Cuda>&, tensors...): unpacks the tensors (already validated by the
//             checked entry in include/srmds/ops/) and calls the launchers with ctx.stream().
// Per-element math shared with the CPU backend comes from include/srmds/ops/math/.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "check.hpp"
#include "srmds/core/tensor.hpp"
#include "srmds/cuda/context.hpp"
#include "srmds/cuda/ops.hpp"

namespace srmds::cuda::detail {

constexpr int kThreads = 256;       // threads per block (a multiple of 32)
constexpr int64_t kMaxGridY = 65535;
constexpr int64_t kMaxGridX = int64_t(1) << 16;  // beyond this, threads loop (grid-stride)

// ---- tensors as kernels see them -------------------------------------------------------------

// A rank-4 tensor is N rows (samples) of C*H*W contiguous elements, batch_stride apart; any other
// tensor is one contiguous row.
template <class T>
struct Rows {
  T* data;
  int64_t stride;
  __device__ T& at(int64_t r, int64_t i) const { return data[r * stride + i]; }
};
template <class T>
Rows<const T> rows_of(const Tensor<T, Cuda>& t) {
  return {t.data(), t.batch_stride()};
}
template <class T>
Rows<T> rows_of(Tensor<T, Cuda>& t) {
  return {t.data(), t.batch_stride()};
}
inline int64_t row_count(const Shape& s) { return s.rank() == 4 ? s.n() : 1; }
inline int64_t row_length(const Shape& s) { return s.rank() == 4 ? s.c() * s.h() * s.w() : s.numel(); }

// A rank-4 tensor as N*C planes of H*W contiguous elements; plane p is (n, c) = (p / C, p % C).
template <class T>
struct Planes {
  T* data;
  int64_t batch_stride;
  int64_t channels;
  int64_t plane_size;
  __device__ T* plane(int64_t p) const {
    return data + (p / channels) * batch_stride + (p % channels) * plane_size;
  }
};
template <class T>
Planes<const T> planes_of(const Tensor<T, Cuda>& t) {
  return {t.data(), t.batch_stride(), t.shape().c(), t.shape().h() * t.shape().w()};
}
template <class T>
Planes<T> planes_of(Tensor<T, Cuda>& t) {
  return {t.data(), t.batch_stride(), t.shape().c(), t.shape().h() * t.shape().w()};
}

// out = v (overwrite) or out += v (accumulate); overwrite never reads out.
__device__ __forceinline__ void write_out(float& out, float v, bool accumulate) {
  out = accumulate ? out + v : v;
}

// ---- launching -------------------------------------------------------------------------------

// Throws srmds::Error when the last launch failed (every launcher calls it after its launch).
inline void check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    SRMDS_THROW("CUDA kernel " << kernel << " failed to launch: " << cudaGetErrorName(err) << ": "
                               << cudaGetErrorString(err));
}

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
inline dim3 grid_for(const Extent& e) {
  const int64_t y = std::max<int64_t>(1, std::min(e.rows, kMaxGridY));
  const int64_t x = std::max<int64_t>(1, std::min((e.len + kThreads - 1) / kThreads, kMaxGridX));
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(y));
}

// The generic elementwise kernel: calls f(r, i) for every row r < rows and element i < len.
template <class F>
__global__ void rows_kernel(int64_t rows, int64_t len, F f) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < len; i += int64_t(gridDim.x) * blockDim.x)
      f(r, i);
}

// Launches rows_kernel<F> over e on the stream and checks the launch (nothing for an empty extent).
template <class F>
void launch_rows(const F& f, const Extent& e, cudaStream_t stream, const char* name) {
  if (e.empty()) return;
  rows_kernel<<<grid_for(e), kThreads, 0, stream>>>(e.rows, e.len, f);
  check_launch(name);
}

// Blocks for one thread per item of a small per-channel or per-sample array.
inline unsigned blocks_for(int64_t n) { return static_cast<unsigned>(std::max<int64_t>(1, (n + kThreads - 1) / kThreads)); }

// ---- reductions ------------------------------------------------------------------------------

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sums each of K values over the block; the totals are valid in thread 0. Every thread of the
// block must call it.
template <int K>
__device__ void block_sum(double (&v)[K]) {
  __shared__ double shared[K][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  for (int j = 0; j < K; ++j) v[j] = warp_sum(v[j]);
  if (lane == 0)
    for (int j = 0; j < K; ++j) shared[j][warp] = v[j];
  __syncthreads();
  if (warp == 0)
    for (int j = 0; j < K; ++j) v[j] = warp_sum(lane < warps ? shared[j][lane] : 0.0);
  __syncthreads();  // the shared array may be reused by the next call
}

// Partial sums of K quantities per row. Row r's elements are (o, k), o < outer, k < inner; block
// (s, r) takes k = s * blockDim + t, advancing by splits * blockDim, for every o, calls
// f(r, o, k, acc) to add its terms to acc[K], and writes partials[(r * splits + s) * K + j].
template <int K, class F>
__global__ void partial_sums_kernel(int64_t rows, int64_t outer, int64_t inner, F f, double* partials) {
  const int64_t splits = gridDim.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    double acc[K];
    for (int j = 0; j < K; ++j) acc[j] = 0.0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < inner; k += splits * blockDim.x)
        f(r, o, k, acc);
    block_sum<K>(acc);
    if (threadIdx.x == 0)
      for (int j = 0; j < K; ++j) partials[(r * splits + blockIdx.x) * K + j] = acc[j];
  }
}

// The partial sums of a reduction: rows x splits x K doubles on the device.
struct Partials {
  Buffer buffer;
  const double* data = nullptr;
  int64_t splits = 1;
};

// Sum over the splits of quantity j of row r, in a fixed order (deterministic).
template <int K>
__device__ __forceinline__ double total(const double* partials, int64_t splits, int64_t r, int j) {
  double s = 0.0;
  for (int64_t i = 0; i < splits; ++i) s += partials[(r * splits + i) * K + j];
  return s;
}

// Launcher of partial_sums_kernel<K, F>: p.splits blocks per row, written to p's buffer.
template <int K, class F>
void partial_sums_launch(const Partials& p, int64_t rows, int64_t outer, int64_t inner, const F& f,
                         cudaStream_t stream, const char* name) {
  const dim3 grid(static_cast<unsigned>(p.splits), static_cast<unsigned>(std::min(rows, kMaxGridY)));
  partial_sums_kernel<K><<<grid, kThreads, 0, stream>>>(rows, outer, inner, f, const_cast<double*>(p.data));
  check_launch(name);
}

// Partial sums of K quantities over `rows` rows of outer x inner terms f(r, o, k, acc): chooses the
// splits per row (about 4 blocks per SM in all), allocates the partials from the context and
// launches on its stream. Nothing is launched for rows <= 0 (data stays null).
template <int K, class F>
Partials partial_sums(Context<Cuda>& ctx, int64_t rows, int64_t outer, int64_t inner, const F& f,
                      const char* name) {
  Partials p;
  if (rows <= 0) return p;
  const int64_t target_blocks = int64_t(ctx.sm_count()) * 4;
  const int64_t max_useful = std::max<int64_t>(1, (inner + kThreads - 1) / kThreads);
  p.splits = std::max<int64_t>(1, std::min<int64_t>({(target_blocks + rows - 1) / rows, max_useful, 1024}));
  p.buffer = ctx.allocate(static_cast<size_t>(rows * p.splits * K) * sizeof(double));
  p.data = static_cast<const double*>(p.buffer.get());
  partial_sums_launch<K>(p, rows, outer, inner, f, ctx.stream(), name);
  return p;
}

}  // namespace srmds::cuda::detail
