// Tensor<T, Device>: an NCHW array of T on a device. Move-only RAII.
//
// A tensor either owns its buffer or is a view into another tensor's buffer (see channels()).
// Samples may be strided: sample n starts at data() + n * batch_stride(), and each sample is a
// contiguous block of C*H*W elements. An owning tensor has batch_stride == C*H*W; a channel view
// keeps its parent's batch stride, which is how concatenation costs no copy: a decoder's input
// buffer (N, Cskip + Cup, H, W) is written by the encoder (channels [0, Cskip)) and by the
// upsampling (channels [Cskip, Cskip + Cup)) in place.
//
// Shapes of rank < 4 (biases, BN parameters) are always contiguous.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "srmds/core/buffer.hpp"
#include "srmds/core/device.hpp"
#include "srmds/core/error.hpp"
#include "srmds/core/shape.hpp"

namespace srmds {

template <class T, class D = Cpu>
class Tensor {
public:
  using value_type = T;
  using device_type = D;

  Tensor() = default;

  // Allocates an uninitialised tensor on the context's device.
  template <class Ctx>
  Tensor(const Shape& shape, Ctx& ctx) : m_shape(shape) {
    static_assert(std::is_same_v<Ctx, Context<D>>, "Tensor: context device differs from tensor device");
    m_buffer = ctx.allocate(bytes_for(shape));
    m_data = static_cast<T*>(m_buffer.get());
    m_batch_stride = sample_numel(shape);
  }

  // Host tensors need no context. Zero-initialised.
  template <class DD = D, class = std::enable_if_t<is_cpu_v<DD>>>
  explicit Tensor(const Shape& shape) : m_shape(shape) {
    m_buffer = host_buffer(bytes_for(shape));
    m_data = static_cast<T*>(m_buffer.get());
    if (m_data) std::memset(static_cast<void*>(m_data), 0, bytes_for(shape));
    m_batch_stride = sample_numel(shape);
  }

  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  // A non-owning view of `count` channels starting at `first` (rank-4 tensors). The parent must
  // outlive the view.
  Tensor channels(int64_t first, int64_t count) const {
    SRMDS_CHECK(m_shape.rank() == 4, "Tensor::channels: tensor of shape " << m_shape << " is not NCHW");
    SRMDS_CHECK(first >= 0 && count >= 0 && first + count <= m_shape.c(),
                "Tensor::channels: channels [" << first << ", " << first + count << ") out of range for shape "
                                               << m_shape);
    Tensor v;
    v.m_shape = Shape{m_shape.n(), count, m_shape.h(), m_shape.w()};
    v.m_data = m_data + first * m_shape.h() * m_shape.w();
    v.m_batch_stride = m_batch_stride;
    return v;
  }

  // A non-owning view of `count` samples starting at `first` (rank-4 tensors), same strides.
  Tensor samples(int64_t first, int64_t count) const {
    SRMDS_CHECK(m_shape.rank() == 4, "Tensor::samples: tensor of shape " << m_shape << " is not NCHW");
    SRMDS_CHECK(first >= 0 && count >= 0 && first + count <= m_shape.n(),
                "Tensor::samples: samples [" << first << ", " << first + count << ") out of range for shape "
                                             << m_shape);
    Tensor v;
    v.m_shape = Shape{count, m_shape.c(), m_shape.h(), m_shape.w()};
    v.m_data = m_data + first * m_batch_stride;
    v.m_batch_stride = m_batch_stride;
    return v;
  }

  // A non-owning view of the whole tensor (same strides).
  Tensor view() const {
    Tensor v;
    v.m_shape = m_shape;
    v.m_data = m_data;
    v.m_batch_stride = m_batch_stride;
    return v;
  }

  // A non-owning contiguous view with another shape of the same element count.
  Tensor reshaped(const Shape& shape) const {
    SRMDS_CHECK(is_contiguous(), "Tensor::reshaped: tensor of shape " << m_shape << " is a strided view");
    SRMDS_CHECK(shape.numel() == numel(), "Tensor::reshaped: " << m_shape << " -> " << shape << " changes numel");
    Tensor v;
    v.m_shape = shape;
    v.m_data = m_data;
    v.m_batch_stride = sample_numel(shape);
    return v;
  }

  T* data() { return m_data; }
  const T* data() const { return m_data; }
  // First element of sample n (rank-4 tensors).
  T* sample(int64_t n) { return m_data + n * m_batch_stride; }
  const T* sample(int64_t n) const { return m_data + n * m_batch_stride; }

  const Shape& shape() const { return m_shape; }
  int64_t numel() const { return m_shape.numel(); }
  int64_t batch_stride() const { return m_batch_stride; }
  int64_t sample_numel() const { return sample_numel(m_shape); }
  bool owns_data() const { return static_cast<bool>(m_buffer); }
  bool empty() const { return m_data == nullptr || numel() == 0; }
  bool is_contiguous() const { return m_shape.rank() < 4 || m_shape.n() <= 1 || m_batch_stride == sample_numel(m_shape); }

  // Host element access (CPU tensors only), NCHW or flat.
  template <class DD = D, class = std::enable_if_t<is_cpu_v<DD>>>
  T& at(int64_t n, int64_t c, int64_t h, int64_t w) {
    return m_data[n * m_batch_stride + (c * m_shape.h() + h) * m_shape.w() + w];
  }
  template <class DD = D, class = std::enable_if_t<is_cpu_v<DD>>>
  const T& at(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return m_data[n * m_batch_stride + (c * m_shape.h() + h) * m_shape.w() + w];
  }
  template <class DD = D, class = std::enable_if_t<is_cpu_v<DD>>>
  T& operator[](int64_t i) { return m_data[i]; }
  template <class DD = D, class = std::enable_if_t<is_cpu_v<DD>>>
  const T& operator[](int64_t i) const { return m_data[i]; }

  static int64_t sample_numel(const Shape& s) {
    if (s.rank() < 4) return s.numel();
    return s.c() * s.h() * s.w();
  }

private:
  static size_t bytes_for(const Shape& s) { return static_cast<size_t>(s.numel()) * sizeof(T); }

  Buffer m_buffer;
  T* m_data = nullptr;
  Shape m_shape;
  int64_t m_batch_stride = 0;
};

// Shape-check helpers used by every op's checked entry point.
namespace detail {
// Blocks template argument deduction, so an optional tensor argument accepts a bare nullptr.
template <class X>
struct non_deduced {
  using type = X;
};
template <class X>
using non_deduced_t = typename non_deduced<X>::type;

template <class A, class B>
void check_same_shape(const char* op, const char* a_name, const A& a, const char* b_name, const B& b) {
  SRMDS_CHECK(a.shape() == b.shape(),
              op << ": " << a_name << " " << a.shape() << " and " << b_name << " " << b.shape() << " differ");
}
template <class A>
void check_rank4(const char* op, const char* name, const A& a) {
  SRMDS_CHECK(a.shape().rank() == 4, op << ": " << name << " " << a.shape() << " is not (N, C, H, W)");
}
template <class A>
void check_shape(const char* op, const char* name, const A& a, const Shape& expected) {
  SRMDS_CHECK(a.shape() == expected, op << ": " << name << " " << a.shape() << " expected " << expected);
}
}  // namespace detail

}  // namespace srmds
