// Context<Cuda>: everything a CUDA op needs besides its tensors. One context per thread (a cuDNN
// handle is thread-safe only per handle); all its work runs on its own stream.
//   - stream (non-blocking) and the cuDNN handle bound to it;
//   - a caching device allocator (allocate(): no cudaMalloc/cudaFree in steady state);
//   - a workspace arena for cuDNN, grown on demand and reused;
//   - the cuDNN convolution algorithm cache (kernels/cudnn.hpp, internal);
//   - the TF32 switch (on by default): cuDNN convolutions may use TF32 tensor cores;
//   - the deterministic switch (off by default): on, cuDNN may only choose algorithms that give
//     bitwise identical results run to run (some backward algorithms sum with atomics). The
//     hand-written kernels are deterministic either way (fixed-order reductions, no float atomics).
// Tensors allocated from a context must not be used after it is gone (their memory may still be
// released safely, see cuda/allocator.hpp). Destructors never throw.
//
// The header needs the CUDA runtime's headers only: the cuDNN handle type is declared here the
// way cudnn.h declares it (cudnnHandle_t is `struct cudnnContext*`).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>

#include "srmds/core/buffer.hpp"
#include "srmds/core/device.hpp"
#include "srmds/cuda/allocator.hpp"

struct cudnnContext;

namespace srmds::cuda::detail {
class ConvPlanCache;
}

namespace srmds {

template <>
class Context<Cuda> {
public:
  // Uses `device`, or the calling thread's current device when device < 0. Throws srmds::Error
  // when no usable GPU is present.
  explicit Context(int device = -1);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Device memory from the caching allocator; the Buffer returns it to the cache when released.
  Buffer allocate(size_t bytes) { return m_allocator->allocate(bytes); }

  // Waits for all work queued on the context's stream; throws on an asynchronous error.
  void synchronize();

  // Whether float convolutions may use TF32 tensor cores. On by default.
  void set_tf32(bool on) { m_tf32 = on; }
  bool tf32() const { return m_tf32; }

  // Whether cuDNN is restricted to deterministic algorithms. Off by default (the fastest
  // algorithm wins); the parity tests turn it on.
  void set_deterministic(bool on) { m_deterministic = on; }
  bool deterministic() const { return m_deterministic; }

  cudaStream_t stream() const { return m_stream; }
  cudnnContext* cudnn() const { return m_cudnn; }  // cudnnHandle_t
  int device() const { return m_device; }
  int sm_count() const { return m_sm_count; }

  // A device scratch area of at least `bytes` bytes, valid until the next call (stream-ordered:
  // work queued earlier on the stream that used the old area finishes before anything reuses it).
  void* workspace(size_t bytes);
  size_t workspace_bytes() const { return m_workspace.bytes(); }

  cuda::AllocatorStats allocator_stats() const { return m_allocator->stats(); }
  // The allocator itself (CUDA Graph capture switches it to capture mode, cuda/graph.hpp).
  cuda::CachingAllocator& allocator() { return *m_allocator; }
  // Frees the allocator's cached blocks (synchronizes first).
  void release_cached_memory();

  cuda::detail::ConvPlanCache& conv_plans() { return *m_conv_plans; }

private:
  void destroy() noexcept;

  int m_device = 0;
  int m_sm_count = 1;
  bool m_tf32 = true;
  bool m_deterministic = false;
  cudaStream_t m_stream = nullptr;
  cudnnContext* m_cudnn = nullptr;
  cuda::CachingAllocator* m_allocator = nullptr;  // orphaned, not deleted, in the destructor
  Buffer m_workspace;
  std::unique_ptr<cuda::detail::ConvPlanCache> m_conv_plans;
};

}  // namespace srmds
