// Buffer: an owned block of bytes on some device, released through the function that made it.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

#include "srmds/core/error.hpp"
#include "srmds/core/memory.hpp"

namespace srmds {

class Buffer {
public:
  using FreeFn = void (*)(void* owner, void* ptr, size_t bytes) noexcept;

  Buffer() = default;
  Buffer(void* ptr, size_t bytes, FreeFn free_fn, void* owner)
      : m_ptr(ptr), m_bytes(bytes), m_free(free_fn), m_owner(owner) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }
  ~Buffer() { release(); }

  void* get() const { return m_ptr; }
  size_t bytes() const { return m_bytes; }
  explicit operator bool() const { return m_ptr != nullptr; }

  void release() noexcept {
    if (m_ptr && m_free) m_free(m_owner, m_ptr, m_bytes);
    m_ptr = nullptr;
    m_bytes = 0;
  }

private:
  void swap(Buffer& o) noexcept {
    std::swap(m_ptr, o.m_ptr);
    std::swap(m_bytes, o.m_bytes);
    std::swap(m_free, o.m_free);
    std::swap(m_owner, o.m_owner);
  }
  void* m_ptr = nullptr;
  size_t m_bytes = 0;
  FreeFn m_free = nullptr;
  void* m_owner = nullptr;
};

// 64-byte aligned host memory (vector loads, no false sharing between threads), counted by
// core/memory.hpp.
inline Buffer host_buffer(size_t bytes) {
  constexpr size_t kAlign = 64;
  if (bytes == 0) return Buffer();
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) SRMDS_THROW("host_buffer: out of memory allocating " << bytes << " bytes");
  count_host_allocation(static_cast<int64_t>(bytes));
  return Buffer(
      p, bytes,
      [](void*, void* ptr, size_t n) noexcept {
        std::free(ptr);
        count_host_allocation(-static_cast<int64_t>(n));
      },
      nullptr);
}

}  // namespace srmds
