// StreamGraph (see include/srmds/cuda/graph.hpp).
#include "srmds/cuda/graph.hpp"

#include <cuda_runtime.h>

#include <exception>

#include "check.hpp"
#include "cudnn.hpp"

namespace srmds::cuda {
namespace {

WorkCounts minus(const WorkCounts& a, const WorkCounts& b) {
  WorkCounts d;
  d.kernels = a.kernels - b.kernels;
  d.library_calls = a.library_calls - b.library_calls;
  d.copies = a.copies - b.copies;
  d.host_syncs = a.host_syncs - b.host_syncs;
  d.graph_launches = a.graph_launches - b.graph_launches;
  return d;
}

}  // namespace

StreamGraph::~StreamGraph() { reset(); }

void StreamGraph::reset() noexcept {
  if (m_exec) SRMDS_CUDA_WARN(cudaGraphExecDestroy(m_exec));
  m_exec = nullptr;
  m_ctx = nullptr;
  m_workspace = nullptr;
  m_memory.clear();
  m_work = WorkCounts{};
}

void StreamGraph::capture(Context<Cuda>& ctx, const std::function<void()>& work) {
  reset();
  const WorkCounts before = work_counts();
  const AllocatorStats alloc_before = ctx.allocator_stats();
  const size_t plans_before = ctx.conv_plans().size();
  void* const workspace = ctx.workspace(0);
  CachingAllocator& allocator = ctx.allocator();
  allocator.begin_capture();
  cudaGraph_t graph = nullptr;
  const cudaError_t begun = cudaStreamBeginCapture(ctx.stream(), cudaStreamCaptureModeThreadLocal);
  if (begun != cudaSuccess) {
    (void)allocator.end_capture();
    SRMDS_CUDA_CHECK(begun);
  }
  const auto abandon = [&] {
    (void)cudaStreamEndCapture(ctx.stream(), &graph);
    if (graph) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // an invalidated capture leaves a (non-sticky) error behind
    (void)allocator.end_capture();
  };
  try {
    work();
  } catch (const std::exception& e) {
    abandon();
    SRMDS_THROW("StreamGraph::capture: the captured work failed: " << e.what());
  } catch (...) {
    abandon();
    throw;
  }
  const cudaError_t ended = cudaStreamEndCapture(ctx.stream(), &graph);
  std::vector<Buffer> memory = allocator.end_capture();
  const WorkCounts done = minus(work_counts(), before);
  const char* fault = nullptr;
  if (done.host_syncs != 0)
    fault = "the host waited for the stream (a copy to host or a synchronize) during capture";
  else if (ctx.allocator_stats().device_allocations != alloc_before.device_allocations)
    fault = "device memory was allocated during capture";
  else if (ctx.conv_plans().size() != plans_before)
    fault = "cuDNN searched an algorithm for a new shape during capture";
  else if (ctx.workspace(0) != workspace)
    fault = "the cuDNN workspace grew during capture";
  if (fault || ended != cudaSuccess) {
    if (graph) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    SRMDS_THROW("StreamGraph::capture: "
                << (fault ? fault : "the capture failed") << (ended != cudaSuccess ? " (" : "")
                << (ended != cudaSuccess ? cudaGetErrorString(ended) : "") << (ended != cudaSuccess ? ")" : "")
                << "; run the work once uncaptured (same shapes) before capturing it");
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  SRMDS_CUDA_CHECK(made);
  m_exec = exec;
  m_ctx = &ctx;
  m_workspace = workspace;
  m_memory = std::move(memory);
  m_work = done;
}

bool StreamGraph::valid_for(Context<Cuda>& ctx) {
  return m_exec && m_ctx == &ctx && ctx.workspace(0) == m_workspace;
}

void StreamGraph::launch(Context<Cuda>& ctx) {
  SRMDS_CHECK(m_exec, "StreamGraph::launch: nothing was captured");
  SRMDS_CHECK(m_ctx == &ctx, "StreamGraph::launch: the graph was captured on another context");
  SRMDS_CHECK(ctx.workspace(0) == m_workspace,
              "StreamGraph::launch: the context's cuDNN workspace moved since the capture; capture again");
  detail::count_graph_launch();
  SRMDS_CUDA_CHECK(cudaGraphLaunch(m_exec, ctx.stream()));
}

}  // namespace srmds::cuda
