// Scratch<T, D>: reusable temporary tensors for blocks (gradients inside a block's backward, branch
// outputs in eval mode). Slot k is one buffer that grows to the largest request and is handed out
// as a contiguous view of the requested shape; buffers are allocated on first use or when a larger
// shape arrives, never per step. A view is valid until the same slot is requested again.
// One Scratch may serve every block of a network, because blocks run one after another; the slots
// they use are named below (ScratchSlot). On the CPU it also holds one word workspace for the packed
// bf16 convolutions (words()).
//
// The rule for views (views own no memory): a view of slot k is valid until slot k is requested
// again, and is not used after that. A larger request frees the old buffer at once; work already
// enqueued on it stays safe because a context runs all its work on one stream and its allocator
// hands a freed block out again only to later work on that stream. Under CUDA Graph capture no slot
// may grow (no allocation during capture): capture after one uncaptured step of the same shapes.
#pragma once

#include <cstdint>
#include <type_traits>
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

  // At least n 32-bit words of host memory (CPU only), valid until the next call; contents unspecified.
  uint32_t* words(int64_t n) {
    static_assert(std::is_same_v<D, Cpu>, "Scratch::words: a host workspace, for CPU networks");
    if (static_cast<int64_t>(m_words.size()) < n) m_words.resize(static_cast<size_t>(n));
    return m_words.data();
  }

  // Total elements held in the slots (for memory reports).
  int64_t numel() const {
    int64_t s = 0;
    for (const auto& b : m_slots) s += b.numel();
    return s;
  }

private:
  std::vector<Tensor<T, D>> m_slots;
  std::vector<uint32_t> m_words;
};

// The slots of the Scratch that a network shares with its blocks. A block's slots are free again
// when its call returns; phases that do not overlap reuse numbers.
struct ScratchSlot {
  // SrfvBlock forward: a branch's output before it is summed; in eval mode with external BN, the sum.
  static constexpr int kBranchOut = 0, kBranchSum = 2;
  // SrfvBlock backward: the output gradient, the sum's gradient (external BN), one per conv branch
  // from kGradConv on (at most four branches).
  static constexpr int kGradY = 0, kGradSum = 1, kGradConv = 2;
  static constexpr int kBlockEnd = kGradConv + 4;  // every block slot is below this
  // SrmdsNet eval mode: a stage's middle activation, held across its second block's call.
  static constexpr int kNetEvalMid = kBlockEnd;
};

// Makes `t` an owning tensor of `shape`, reallocating only when the shape changes.
template <class T, class D>
void ensure_shape(Context<D>& ctx, Tensor<T, D>& t, const Shape& shape) {
  if (!t.owns_data() || t.shape() != shape) t = Tensor<T, D>(shape, ctx);
}

}  // namespace srmds
