// StreamGraph: work queued on a context's stream, captured once into a CUDA Graph and replayed with
// one launch (cudaGraphLaunch): the host cost of a replay is one call, whatever the kernels, cuDNN
// calls and copies inside.
//
// capture(ctx, work) runs `work` (host code that queues work on ctx's stream) under stream capture
// and instantiates the graph. What a capture may not do, and the error it gets (srmds::Error,
// nothing left captured):
//   - allocate device memory: the context's allocator is in capture mode (cuda/allocator.hpp), a
//     request the cache cannot serve throws; blocks freed during the capture stay the graph's;
//   - wait on the host (Context<Cuda>::synchronize, a copy to host): counted (cuda/counters.hpp);
//   - search cuDNN algorithms (a shape not seen before) or grow the cuDNN workspace.
// So run the same work once uncaptured first (warm-up): every buffer is then sized, every
// algorithm chosen. Pointers are baked into the graph: the tensors the work reads and writes must
// stay where they are while it is replayed (infer/forward_graph.hpp owns them for a network).
// launch(ctx) refuses another context and a context whose cuDNN workspace moved since the capture
// (the graph would write into the old one): capture again then.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "srmds/core/buffer.hpp"
#include "srmds/cuda/context.hpp"
#include "srmds/cuda/counters.hpp"

namespace srmds::cuda {

class StreamGraph {
public:
  StreamGraph() = default;
  ~StreamGraph();
  StreamGraph(const StreamGraph&) = delete;
  StreamGraph& operator=(const StreamGraph&) = delete;

  // Captures `work` on ctx's stream (replacing any earlier capture). Throws as described above.
  void capture(Context<Cuda>& ctx, const std::function<void()>& work);
  // Queues one replay on ctx's stream (the context it was captured on).
  void launch(Context<Cuda>& ctx);
  // Whether launch(ctx) may replay on ctx as captured: captured on ctx, workspace unmoved.
  bool valid_for(Context<Cuda>& ctx);

  bool captured() const { return m_exec != nullptr; }
  // What one replay runs, counted while it was captured (kernels, cuDNN calls, copies).
  const WorkCounts& captured_work() const { return m_work; }
  // Drops the graph and the memory it held.
  void reset() noexcept;

private:
  cudaGraphExec_t m_exec = nullptr;
  Context<Cuda>* m_ctx = nullptr;
  void* m_workspace = nullptr;        // the context's cuDNN workspace when captured
  std::vector<Buffer> m_memory;       // blocks freed during the capture: the graph's alone
  WorkCounts m_work;
};

}  // namespace srmds::cuda
