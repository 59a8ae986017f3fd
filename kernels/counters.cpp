// The CUDA backend's work counters (see include/srmds/cuda/counters.hpp).
#include "srmds/cuda/counters.hpp"

#include <atomic>
#include <initializer_list>

namespace srmds::cuda {
namespace {

std::atomic<int64_t> g_kernels{0}, g_library_calls{0}, g_copies{0}, g_host_syncs{0}, g_graph_launches{0};

}  // namespace

WorkCounts work_counts() {
  WorkCounts c;
  c.kernels = g_kernels.load(std::memory_order_relaxed);
  c.library_calls = g_library_calls.load(std::memory_order_relaxed);
  c.copies = g_copies.load(std::memory_order_relaxed);
  c.host_syncs = g_host_syncs.load(std::memory_order_relaxed);
  c.graph_launches = g_graph_launches.load(std::memory_order_relaxed);
  return c;
}

void reset_work_counts() {
  for (auto* c : {&g_kernels, &g_library_calls, &g_copies, &g_host_syncs, &g_graph_launches}) c->store(0, std::memory_order_relaxed);
}

namespace detail {
void count_kernel() { g_kernels.fetch_add(1, std::memory_order_relaxed); }
void count_library_call() { g_library_calls.fetch_add(1, std::memory_order_relaxed); }
void count_copy() { g_copies.fetch_add(1, std::memory_order_relaxed); }
void count_host_sync() { g_host_syncs.fetch_add(1, std::memory_order_relaxed); }
void count_graph_launch() { g_graph_launches.fetch_add(1, std::memory_order_relaxed); }
}  // namespace detail

}  // namespace srmds::cuda
