// Scratch<T, D>: reusable temporary tensors for blocks (gradients inside a block's backward, branch
// outputs in eval mode). Slot k is one buffer that grows to the largest request and is handed out
// as a contiguous view of the requested shape; buffers are allocated on first use or when a larger
// shape arrives, never per step. A view is valid until the same slot is requested again.
// One Scratch may serve every block of a network, because blocks run one after another.
#pragma once

#include <vector>

#include "srmds/core/context.hpp"
#include "srmds/core/tensor.hpp"

namespace srmds {

template <class T, class D>
class Scratch {
public:
  // A contiguous tensor of `shape` backed by slot `slot`; its contents are unspecified.
  Tensor<T, D> get(Context<D>& ctx, int slot, const Shape& shape) {
    if (static_cast<int>(m_slots.size()) <= slot) m_slots.resize(static_cast<size_t>(slot) + 1);
    Tensor<T, D>& buf = m_slots[static_cast<size_t>(slot)];
    const int64_t n = shape.numel();
    if (buf.empty() || buf.shape().c() < n) buf = Tensor<T, D>(Shape{1, n, 1, 1}, ctx);
    return buf.channels(0, n).reshaped(shape);
  }

  // Total elements held (for memory reports).
  int64_t numel() const {
    int64_t s = 0;
    for (const auto& b : m_slots) s += b.numel();
    return s;
  }

private:
  std::vector<Tensor<T, D>> m_slots;
};

// Makes `t` an owning tensor of `shape`, reallocating only when the shape changes.
template <class T, class D>
void ensure_shape(Context<D>& ctx, Tensor<T, D>& t, const Shape& shape) {
  if (!t.owns_data() || t.shape() != shape) t = Tensor<T, D>(shape, ctx);
}

}  // namespace srmds
