// Keeping the ranks of a data-parallel run on one state (issue 23):
//   broadcast_state(ctx, comm, list, root)  every tensor of the list <- rank root's values (the
//                                           start of a run: every rank trains rank 0's weights)
//   average_state(ctx, comm, list)          every tensor <- its mean over the ranks (BatchNorm
//                                           running statistics, which each rank updates from its
//                                           own shard; as timm's distribute_bn)
//   state_checksum(ctx, list)               FNV-1a over the tensors' bytes, in list order
//   require_same_on_every_rank(comm, c, what)  throws on every rank, naming the ranks whose
//                                           checksum differs from rank 0's
#pragma once

#include <cstdint>
#include <string>

#include "srmds/core/named_tensor.hpp"
#include "srmds/dist/communicator.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds::dist {

namespace detail {
// f(host pointer, count) on a host copy of t (t itself on the CPU); `write_back` copies the host
// values back to the device afterwards.
template <class T, class D, class F>
void with_host_values(Context<D>& ctx, Tensor<T, D>& t, bool write_back, F&& f) {
  if constexpr (is_cpu_v<D>) {
    SRMDS_CHECK(t.is_contiguous(), "state synchronisation: a tensor of shape " << t.shape() << " is a strided view");
    f(t.data(), t.numel());
  } else {
    Tensor<T, Cpu> h = to_host(ctx, t);
    f(h.data(), h.numel());
    if (write_back) copy_to_device(ctx, h, t);
  }
}
}  // namespace detail

template <class T, class D>
void broadcast_state(Context<D>& ctx, Communicator& comm, const StateList<T, D>& list, int root = 0) {
  if (comm.world_size() == 1) return;
  for (const auto& e : list)
    detail::with_host_values(ctx, *e.value, true, [&](T* p, int64_t n) {
      comm.broadcast(p, n * static_cast<int64_t>(sizeof(T)), root);
    });
}

template <class T, class D>
void average_state(Context<D>& ctx, Communicator& comm, const StateList<T, D>& list) {
  if (comm.world_size() == 1) return;
  for (const auto& e : list)
    detail::with_host_values(ctx, *e.value, true, [&](T* p, int64_t n) { comm.all_reduce(p, n, ReduceOp::Average); });
}

template <class T, class D>
uint64_t state_checksum(Context<D>& ctx, const StateList<T, D>& list) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& e : list)
    detail::with_host_values(ctx, *e.value, false, [&](T* p, int64_t n) {
      const unsigned char* b = reinterpret_cast<const unsigned char*>(p);
      for (int64_t i = 0; i < n * static_cast<int64_t>(sizeof(T)); ++i) h = (h ^ b[i]) * 0x100000001b3ull;
    });
  return h;
}

// Every rank calls this with its checksum of the same state; all return, or all throw the same
// error: "<what> on rank(s) ... differ from rank 0's" (what: e.g. "the weights after epoch 3").
void require_same_on_every_rank(Communicator& comm, uint64_t checksum, const std::string& what);

}  // namespace srmds::dist
