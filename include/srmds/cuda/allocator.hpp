// CachingAllocator: device memory for one context, recycled through size-bucketed free lists so
// that steady-state training and inference never call cudaMalloc or cudaFree.
//
// A request of b bytes is served from the bucket bucket_size(b) (b rounded up to a power of two
// up to 4 KiB, above that to a quarter of its leading power of two: at most 25 % slack). A miss
// calls cudaMalloc; if that fails, every cached block is freed and the call retried once.
// Blocks return to their free list when their Buffer is released. Reuse is safe without events
// because all work of a context runs on its one stream (stream order).
//
// CUDA Graph capture (cuda/graph.hpp): between begin_capture() and end_capture() a request that the
// cache cannot serve throws instead of calling cudaMalloc (capture after one uncaptured run of the
// same work), and blocks handed back are kept apart: the capture may reuse them (stream order holds
// inside a graph too), nobody else gets them. end_capture() returns them as Buffers, which the graph
// holds while it lives, so a replay never writes into memory that was handed out again.
//
// If the context dies while buffers are still out, the allocator is orphaned: late buffers are
// freed with cudaFree when they come back, and the allocator deletes itself with the last one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "srmds/core/buffer.hpp"

namespace srmds::cuda {

struct AllocatorStats {
  size_t bytes_in_use = 0;         // handed out (bucket sizes)
  size_t bytes_cached = 0;         // in the free lists
  size_t peak_bytes_in_use = 0;
  uint64_t device_allocations = 0; // cudaMalloc calls so far
  uint64_t cache_hits = 0;
};

class CachingAllocator {
public:
  explicit CachingAllocator(int device) : m_device(device) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` bytes (empty Buffer for 0). Throws srmds::Error when out of memory.
  Buffer allocate(size_t bytes);

  // Capture mode (see the header comment). begin_capture throws if a capture is already open.
  void begin_capture();
  std::vector<Buffer> end_capture() noexcept;
  bool capturing() const;

  // cudaFree every cached block (blocks in use are untouched). Synchronizes the device.
  void release_cached() noexcept;

  AllocatorStats stats() const;

  // The size class serving a request of `bytes` bytes.
  static size_t bucket_size(size_t bytes);

  // Called by the owning context's destructor instead of delete (see the header comment).
  void orphan() noexcept;

private:
  ~CachingAllocator() = default;
  static void free_block(void* owner, void* ptr, size_t bytes) noexcept;
  void give_back(void* ptr, size_t bytes) noexcept;
  void release_cached_locked() noexcept;

  int m_device = 0;
  mutable std::mutex m_mutex;
  std::unordered_map<size_t, std::vector<void*>> m_free;  // bucket size -> cached blocks
  AllocatorStats m_stats;
  size_t m_live_blocks = 0;
  bool m_orphaned = false;
  bool m_capturing = false;
  std::unordered_map<size_t, std::vector<void*>> m_capture_free;  // handed back during the capture
};

}  // namespace srmds::cuda
