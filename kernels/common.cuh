// Shared by the hand-written kernels in kernels/*.cu: how kernels see tensors (rows and planes,
// so strided channel views cost nothing), launch geometry, the launch check, and deterministic
// block reductions (partial sums per row in double, combined in a fixed order; no float atomics).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "srmds/core/tensor.hpp"
#include "srmds/cuda/check.hpp"
#include "srmds/cuda/context.hpp"
#include "srmds/cuda/ops.hpp"

namespace srmds::cuda::detail {

constexpr int kThreads = 256;       // threads per block (a multiple of 32)
constexpr int64_t kMaxGridY = 65535;

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

inline void check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    SRMDS_THROW("CUDA kernel " << kernel << " failed to launch: " << cudaGetErrorName(err) << ": "
                               << cudaGetErrorString(err));
}

// Blocks for `rows` rows of `len` elements: grid.y walks the rows (looping past 65535), grid.x
// strides along a row; about 16 blocks per SM in all.
inline dim3 grid_for(const Context<Cuda>& ctx, int64_t len, int64_t rows) {
  const int64_t y = std::max<int64_t>(1, std::min(rows, kMaxGridY));
  const int64_t want_x = (len + kThreads - 1) / kThreads;
  const int64_t cap_x = std::max<int64_t>(1, int64_t(ctx.sm_count()) * 16 / y);
  const int64_t x = std::max<int64_t>(1, std::min(want_x, cap_x));
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(y));
}

// Calls f(r, i) for every row r < rows and element i < len.
template <class F>
__global__ void rows_kernel(int64_t rows, int64_t len, F f) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < len; i += int64_t(gridDim.x) * blockDim.x)
      f(r, i);
}

template <class F>
void launch_rows(Context<Cuda>& ctx, int64_t rows, int64_t len, const F& f, const char* name) {
  if (rows <= 0 || len <= 0) return;
  rows_kernel<<<grid_for(ctx, len, rows), kThreads, 0, ctx.stream()>>>(rows, len, f);
  check_launch(name);
}

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

template <int K, class F>
Partials partial_sums(Context<Cuda>& ctx, int64_t rows, int64_t outer, int64_t inner, const F& f,
                      const char* name) {
  Partials p;
  if (rows <= 0) return p;
  const int64_t target_blocks = int64_t(ctx.sm_count()) * 4;
  const int64_t max_useful = std::max<int64_t>(1, (inner + kThreads - 1) / kThreads);
  p.splits = std::max<int64_t>(1, std::min<int64_t>({(target_blocks + rows - 1) / rows, max_useful, 1024}));
  p.buffer = ctx.allocate(static_cast<size_t>(rows * p.splits * K) * sizeof(double));
  double* out = static_cast<double*>(p.buffer.get());
  p.data = out;
  const dim3 grid(static_cast<unsigned>(p.splits), static_cast<unsigned>(std::min(rows, kMaxGridY)));
  partial_sums_kernel<K><<<grid, kThreads, 0, ctx.stream()>>>(rows, outer, inner, f, out);
  check_launch(name);
  return p;
}

}  // namespace srmds::cuda::detail
