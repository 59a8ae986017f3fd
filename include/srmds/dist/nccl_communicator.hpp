// NCCL communicator (issue 23): the ranks of a data-parallel run on GPUs, one GPU per rank, reducing
// CUDA device buffers (device_buffers() is true). As llm.c does:
//   - bootstrap over a host communicator (MPI, or one process): rank 0 calls ncclGetUniqueId, the
//     id is broadcast over the bootstrap, every rank calls ncclCommInitRank on its GPU;
//   - all-reduces run on the communicator's own CUDA stream, ordered after the work queued on the
//     caller's stream by a CUDA event, and the caller's stream waits for NCCL's completion event:
//     no host wait (reduce_gradients).
// The library is loaded at run time (dlopen of libnccl.so.2: the CUDA toolkit's, or the one of
// PyTorch's nvidia-nccl wheel found on LD_LIBRARY_PATH, or the file SRMDS_NCCL_LIBRARY names), so a
// program built with NCCL still starts, and trains without it, where the library is missing. The
// build needs nccl.h (SRMDS_WITH_NCCL, cmake/SrmdsNccl.cmake: with CUDA; MPI to start several
// processes).
//
// The host collectives the trainer also needs (metrics, checks, BN sums) stay on the bootstrap
// communicator: the trainer takes this one as TrainOptions::device_communicator, for the gradients.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "srmds/dist/communicator.hpp"

namespace srmds::dist {

class NcclCommunicator : public Communicator {
public:
  bool device_buffers() const override { return true; }
  // The CUDA device this rank's NCCL communicator uses.
  virtual int device() const = 0;
  // NCCL's version (e.g. 22805 for 2.28.5) of the library loaded.
  virtual int nccl_version() const = 0;
  // Every (device pointer, count) gradient <- sum over ranks of scale_r * gradient_r (scale: this
  // rank's n_r / n; NCCL's pre-multiplied sum), queued on `stream` (a cudaStream_t): the gradients
  // are packed into one device buffer on `stream`, NCCL's stream waits for an event recorded there,
  // runs one ncclAllReduce, and `stream` waits for NCCL's event before unpacking. No host wait.
  virtual void reduce_gradients(void* stream, const std::vector<std::pair<float*, int64_t>>& grads, double scale) = 0;
  // Wall time of the host calls of reduce_gradients (queuing; the device work is asynchronous).
  virtual double seconds() const = 0;
};

// Whether this build has the NCCL communicator (SRMDS_WITH_NCCL).
bool built_with_nccl();

// "" where this process can load the NCCL library (loading it), else why not (also in a build
// without NCCL). Ranks agree on it before any of them bootstraps NCCL (a rank that cannot load it
// would otherwise leave the others waiting in the bootstrap).
std::string nccl_load_error();

// The NCCL communicator of the ranks of `bootstrap` (which must outlive it), on CUDA device
// `device` (cudaSetDevice). Throws srmds::Error in a build without NCCL, where libnccl.so.2 cannot
// be loaded, or when NCCL fails (the message names the call and NCCL's error).
std::unique_ptr<NcclCommunicator> make_nccl_communicator(Communicator& bootstrap, int device);

}  // namespace srmds::dist
