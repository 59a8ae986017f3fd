// Communicator: the processes of a data-parallel job (SPEC §5, issue 23) and the collectives the
// trainer needs. Rank r of world_size N; local_rank is the rank among the processes of one machine
// (one rank per GPU: cudaSetDevice(local_rank)).
//
//   all_reduce(x, Sum):      x <- sum over ranks of x_r          (every rank gets the result)
//   all_reduce(x, Average):  x <- (sum over ranks of x_r) / N
//   broadcast(p, bytes, r):  every rank's bytes <- rank r's
//   all_reduce_start(x, n):  starts x <- sum over ranks of x_r without waiting (non-blocking, as
//                            MPI_Iallreduce); the returned request's test() drives it and says
//                            whether it is done, wait() finishes it. x must stay untouched until then.
//   barrier():               returns once every rank has called it
//   abort(code):             ends every process of the job with exit status `code` (MPI_Abort); the
//                            one library call that ends the process, made by a program (srmds train)
//                            that caught an error on one rank, so the others do not wait forever
//
// Every rank must make the same calls in the same order with the same counts (as MPI requires).
// Buffers are host memory, except for a communicator whose device_buffers() is true (NCCL), which
// reduces CUDA device memory in place.
//
// Implementations: one process (always built; every collective is the identity), MPI (Open MPI,
// when the build has it: SRMDS_WITH_MPI). make_communicator() picks MPI where a launcher (mpirun,
// srun) started this process, else one process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "srmds/core/error.hpp"

namespace srmds::dist {

enum class ReduceOp { Sum, Average };

// A collective in flight (Communicator::all_reduce_start). Destroying one that is not done waits for
// it (errors are then not reported: call wait()).
class Request {
public:
  virtual ~Request() = default;
  virtual bool test() = 0;  // drives progress; true once done (then the buffer holds the result)
  virtual void wait() = 0;  // returns once done
};

class Communicator {
public:
  virtual ~Communicator() = default;
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual const char* name() const = 0;  // "one process", "MPI"
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;
  virtual bool device_buffers() const { return false; }

  // `count` values at `data` (count >= 0; data may be null only when count == 0).
  void all_reduce(float* data, int64_t count, ReduceOp op) {
    check_buffer("all_reduce", data, count);
    all_reduce_impl(data, count, op);
  }
  void all_reduce(double* data, int64_t count, ReduceOp op) {
    check_buffer("all_reduce", data, count);
    all_reduce_impl(data, count, op);
  }
  // Non-blocking sum; the same order of calls on every rank, as for every collective (the blocking
  // collectives may be called while it is in flight). Default: the blocking sum, done on return.
  std::unique_ptr<Request> all_reduce_start(float* data, int64_t count) {
    check_buffer("all_reduce_start", data, count);
    return all_reduce_start_impl(data, count);
  }
  void broadcast(void* data, int64_t bytes, int root) {
    check_buffer("broadcast", data, bytes);
    SRMDS_CHECK(root >= 0 && root < world_size(),
                "Communicator::broadcast: root " << root << " is not a rank of a world of " << world_size());
    broadcast_impl(data, bytes, root);
  }
  virtual void barrier() = 0;
  [[noreturn]] virtual void abort(int exit_code) noexcept = 0;

private:
  void check_buffer(const char* what, const void* data, int64_t count) const {
    SRMDS_CHECK(count >= 0, "Communicator::" << what << ": count " << count << " < 0");
    SRMDS_CHECK(data != nullptr || count == 0, "Communicator::" << what << ": null buffer of " << count << " values");
  }
  virtual void all_reduce_impl(float* data, int64_t count, ReduceOp op) = 0;
  virtual void all_reduce_impl(double* data, int64_t count, ReduceOp op) = 0;
  virtual void broadcast_impl(void* data, int64_t bytes, int root) = 0;
  virtual std::unique_ptr<Request> all_reduce_start_impl(float* data, int64_t count);
};

// One process: rank 0 of 1. abort() ends the process with std::_Exit after flushing stdout/stderr.
std::unique_ptr<Communicator> make_single_process_communicator();

// Whether this build has the MPI communicator (SRMDS_WITH_MPI).
bool built_with_mpi();

// The MPI communicator over MPI_COMM_WORLD. Initialises MPI (once per process; the communicator
// finalises it when destroyed, unless MPI was initialised before). Throws srmds::Error in a build
// without MPI.
std::unique_ptr<Communicator> make_mpi_communicator();

// The number of processes a launcher says it started, 0 when none did: Open MPI's mpirun
// (OMPI_COMM_WORLD_SIZE), a PMI launcher such as MPICH's Hydra (PMI_SIZE), Slurm's srun
// (SLURM_STEP_NUM_TASKS, set inside a job step).
int launched_world_size();

// MPI where a launcher started this process and the build has MPI, else one process. A launch of
// more than one process in a build without MPI is an error saying so (rather than N independent
// runs writing the same files).
std::unique_ptr<Communicator> make_communicator();

}  // namespace srmds::dist
