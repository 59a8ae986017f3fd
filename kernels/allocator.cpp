// CachingAllocator (see include/srmds/cuda/allocator.hpp).
#include "srmds/cuda/allocator.hpp"

#include <algorithm>

#include "check.hpp"

namespace srmds::cuda {

size_t CachingAllocator::bucket_size(size_t bytes) {
  constexpr size_t kMinBlock = 512;
  constexpr size_t kSmall = 4096;
  if (bytes <= kMinBlock) return kMinBlock;
  size_t p = 1;
  while (p * 2 <= bytes) p *= 2;  // leading power of two
  if (bytes <= kSmall) return p == bytes ? p : p * 2;
  const size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

Buffer CachingAllocator::allocate(size_t bytes) {
  if (bytes == 0) return Buffer();
  const size_t bucket = bucket_size(bytes);
  std::lock_guard<std::mutex> lock(m_mutex);
  void* ptr = nullptr;
  auto it = m_free.find(bucket);
  auto held = m_capture_free.find(bucket);
  if (m_capturing && held != m_capture_free.end() && !held->second.empty()) {  // freed earlier in this capture
    ptr = held->second.back();
    held->second.pop_back();
    ++m_stats.cache_hits;
  } else if (it != m_free.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    m_stats.bytes_cached -= bucket;
    ++m_stats.cache_hits;
  } else {
    if (m_capturing)
      SRMDS_THROW("CachingAllocator: " << bytes << " bytes requested during CUDA Graph capture with no cached block "
                                       << "to serve them; run the captured work once uncaptured first (no cudaMalloc "
                                       << "may happen during capture)");
    SRMDS_CUDA_CHECK(cudaSetDevice(m_device));
    cudaError_t err = cudaMalloc(&ptr, bucket);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // clear the (non-sticky) error, free the cache and retry once
      release_cached_locked();
      err = cudaMalloc(&ptr, bucket);
    }
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      SRMDS_THROW("CachingAllocator: cudaMalloc of " << bucket << " bytes (request " << bytes
                                                      << ") failed: " << cudaGetErrorString(err) << "; "
                                                      << m_stats.bytes_in_use << " bytes in use");
    }
    ++m_stats.device_allocations;
  }
  m_stats.bytes_in_use += bucket;
  m_stats.peak_bytes_in_use = std::max(m_stats.peak_bytes_in_use, m_stats.bytes_in_use);
  ++m_live_blocks;
  return Buffer(ptr, bytes, &CachingAllocator::free_block, this);
}

void CachingAllocator::free_block(void* owner, void* ptr, size_t bytes) noexcept {
  static_cast<CachingAllocator*>(owner)->give_back(ptr, bytes);
}

void CachingAllocator::give_back(void* ptr, size_t bytes) noexcept {
  const size_t bucket = bucket_size(bytes);
  bool delete_me = false;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_stats.bytes_in_use -= bucket;
    --m_live_blocks;
    if (m_orphaned) {
      SRMDS_CUDA_WARN(cudaFree(ptr));
      delete_me = m_live_blocks == 0;
    } else if (m_capturing) {
      try {
        m_capture_free[bucket].push_back(ptr);  // the capture's alone (see the header comment)
      } catch (...) {  // no memory for the list entry: leak the block rather than let it be reused
      }
    } else {
      try {
        m_free[bucket].push_back(ptr);
        m_stats.bytes_cached += bucket;
      } catch (...) {  // no memory for the list entry: give the block back to the driver instead
        SRMDS_CUDA_WARN(cudaFree(ptr));
      }
    }
  }
  if (delete_me) delete this;
}

void CachingAllocator::release_cached_locked() noexcept {
  for (auto& kv : m_free)
    for (void* p : kv.second) SRMDS_CUDA_WARN(cudaFree(p));
  m_free.clear();
  m_stats.bytes_cached = 0;
}

void CachingAllocator::release_cached() noexcept {
  std::lock_guard<std::mutex> lock(m_mutex);
  release_cached_locked();
}

void CachingAllocator::begin_capture() {
  std::lock_guard<std::mutex> lock(m_mutex);
  SRMDS_CHECK(!m_capturing, "CachingAllocator: a CUDA Graph capture is already open on this context");
  m_capturing = true;
  m_capture_free.clear();
}

std::vector<Buffer> CachingAllocator::end_capture() noexcept {
  std::vector<Buffer> out;
  std::lock_guard<std::mutex> lock(m_mutex);
  m_capturing = false;
  for (auto& kv : m_capture_free)
    for (void* p : kv.second) {
      try {
        out.emplace_back(p, kv.first, &CachingAllocator::free_block, this);
      } catch (...) {  // no memory for the list: the block stays out of every list (leaked, never reused)
        continue;
      }
      m_stats.bytes_in_use += kv.first;
      ++m_live_blocks;
    }
  m_capture_free.clear();
  return out;
}

bool CachingAllocator::capturing() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_capturing;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_stats;
}

void CachingAllocator::orphan() noexcept {
  bool delete_me = false;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    release_cached_locked();
    m_orphaned = true;
    delete_me = m_live_blocks == 0;
  }
  if (delete_me) delete this;
}

}  // namespace srmds::cuda
