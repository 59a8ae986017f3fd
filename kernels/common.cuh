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
#include "launch_geometry.hpp"
#include "srmds/core/tensor.hpp"
#include "srmds/cuda/context.hpp"
#include "srmds/cuda/counters.hpp"
#include "srmds/cuda/ops.hpp"

namespace srmds::cuda::detail {

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
// Every kernel states its block size, __launch_bounds__(kThreads, 1) (or its own constexpr size):
// ptxas may assume it, and the 1 (one resident block per SM at least) leaves the registers to
// ptxas; with the block size alone it aims at full occupancy, 32 registers, and spilled. The
// build runs ptxas with -warn-spills,-warn-lmem-usage (cmake/SrmdsCuda.cmake): the log shows none.

// Throws srmds::Error naming the kernel when its launch failed; every launcher calls it right
// after its launch. A fault while a kernel runs is reported here, under the kernel's name, only when
// launches are synchronous (CUDA_LAUNCH_BLOCKING=1, as run.sh's parity steps run); otherwise it
// surfaces at a later launch or synchronisation, and the message says so (kernel_fault_hint).
inline void check_launch(const char* kernel) {
  count_kernel();
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    SRMDS_THROW("CUDA kernel " << kernel << " failed: " << cudaGetErrorName(err) << ": " << cudaGetErrorString(err)
                               << ::srmds::cuda::detail::kernel_fault_hint(err));
}

inline dim3 dim3_of(const Grid& g) { return dim3(g.x, g.y); }

// The generic elementwise kernel: calls f(r, i) for every row r < rows and element i < len.
template <class F>
__global__ void __launch_bounds__(kThreads, 1) rows_kernel(int64_t rows, int64_t len, F f) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < len; i += int64_t(gridDim.x) * blockDim.x)
      f(r, i);
}

// Launches rows_kernel<F> over e on the stream and checks the launch (nothing for an empty extent).
template <class F>
void launch_rows(const F& f, const Extent& e, cudaStream_t stream, const char* name) {
  if (e.empty()) return;
  rows_kernel<<<dim3_of(grid_for(e)), kThreads, 0, stream>>>(e.rows, e.len, f);
  check_launch(name);
}

// ---- reductions ------------------------------------------------------------------------------

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sums each of K values over a block of Threads threads (the kernel's block size, which its
// __launch_bounds__ states: a multiple of the warp size, so every shuffle has a full warp); the
// totals are valid in thread 0. Every thread of the block must call it.
template <int K, int Threads = kThreads>
__device__ void block_sum(double (&v)[K]) {
  static_assert(Threads % 32 == 0 && Threads <= 1024, "block_sum: a block of whole warps, at most 1024 threads");
  constexpr int kWarps = Threads / 32;
  __shared__ double shared[K][kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int j = 0; j < K; ++j) v[j] = warp_sum(v[j]);
  if (lane == 0)
    for (int j = 0; j < K; ++j) shared[j][warp] = v[j];
  __syncthreads();
  if (warp == 0)
    for (int j = 0; j < K; ++j) v[j] = warp_sum(lane < kWarps ? shared[j][lane] : 0.0);
  __syncthreads();  // the shared array may be reused by the next call
}

// Partial sums of K quantities per row. Row r's elements are (o, k), o < outer, k < inner; block
// (s, r) takes k = s * blockDim + t, advancing by splits * blockDim, for every o, calls
// f(r, o, k, acc) to add its terms to acc[K], and writes partials[(r * splits + s) * K + j].
template <int K, class F>
__global__ void __launch_bounds__(kThreads, 1)
    partial_sums_kernel(int64_t rows, int64_t outer, int64_t inner, F f, double* partials) {
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
  partial_sums_kernel<K><<<dim3_of(reduction_grid(p.splits, rows)), kThreads, 0, stream>>>(rows, outer, inner, f,
                                                                                           const_cast<double*>(p.data));
  check_launch(name);
}

// Partial sums of K quantities over `rows` rows of outer x inner terms f(r, o, k, acc): chooses the
// splits per row (reduction_splits), allocates the partials from the context and
// launches on its stream. Nothing is launched for rows <= 0 (data stays null).
template <int K, class F>
Partials partial_sums(Context<Cuda>& ctx, int64_t rows, int64_t outer, int64_t inner, const F& f,
                      const char* name) {
  Partials p;
  if (rows <= 0) return p;
  p.splits = reduction_splits(ctx.sm_count(), rows, inner);
  p.buffer = ctx.allocate(static_cast<size_t>(rows * p.splits * K) * sizeof(double));
  p.data = static_cast<const double*>(p.buffer.get());
  partial_sums_launch<K>(p, rows, outer, inner, f, ctx.stream(), name);
  return p;
}

}  // namespace srmds::cuda::detail
