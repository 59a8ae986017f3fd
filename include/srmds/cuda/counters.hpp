// Work counters of the CUDA backend, for counting what a training step or an inference costs in
// launches and host synchronisations (srmds_cuda_bench reports them per step). Process-wide: every
// context and thread adds to the same relaxed atomic counters; reset, run the work, read.
//   kernels        kernels launched by srmds (one per launch check, kernels/common.cuh check_launch)
//   library_calls  cuDNN calls that run work (convolution forward, backward data, backward filter;
//                  each may launch more than one kernel of its own; the algorithm search is not counted)
//   copies         memory copies queued on a stream (host to device, device to host, device to device)
//   host_syncs     waits of the host for a stream (Context<Cuda>::synchronize: every copy to host
//                  and every value read back, e.g. the loss)
//   graph_launches CUDA Graphs launched (cuda/graph.hpp); the kernels, cuDNN calls and copies a graph
//                  replays are counted once, when it is captured, not per launch
#pragma once

#include <cstdint>

namespace srmds::cuda {

struct WorkCounts {
  int64_t kernels = 0;
  int64_t library_calls = 0;
  int64_t copies = 0;
  int64_t host_syncs = 0;
  int64_t graph_launches = 0;
};

WorkCounts work_counts();
void reset_work_counts();

namespace detail {
void count_kernel();
void count_library_call();
void count_copy();
void count_host_sync();
void count_graph_launch();
}  // namespace detail

}  // namespace srmds::cuda
