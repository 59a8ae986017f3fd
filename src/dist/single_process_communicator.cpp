// The one-process communicator (dist/communicator.hpp): rank 0 of 1, every collective the identity,
// and make_communicator(), which picks it or MPI.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "srmds/dist/communicator.hpp"

namespace srmds::dist {

namespace {

class SingleProcessCommunicator final : public Communicator {
public:
  const char* name() const override { return "one process"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  void barrier() override {}
  [[noreturn]] void abort(int exit_code) noexcept override {
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(exit_code);
  }

private:
  void all_reduce_impl(float*, int64_t, ReduceOp) override {}   // the sum and mean of one value are the value
  void all_reduce_impl(double*, int64_t, ReduceOp) override {}
  void broadcast_impl(void*, int64_t, int) override {}          // root is 0, this process
};

// A request that was done when it was made (the default all_reduce_start: the blocking sum).
class DoneRequest final : public Request {
public:
  bool test() override { return true; }
  void wait() override {}
};

// A positive integer environment variable, or 0.
int env_count(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end && *end == '\0' && n > 0 && n < (1L << 30) ? static_cast<int>(n) : 0;
}

}  // namespace

std::unique_ptr<Request> Communicator::all_reduce_start_impl(float* data, int64_t count) {
  all_reduce_impl(data, count, ReduceOp::Sum);
  return std::make_unique<DoneRequest>();
}

std::unique_ptr<Communicator> make_single_process_communicator() {
  return std::make_unique<SingleProcessCommunicator>();
}

int launched_world_size() {
  // Open MPI's mpirun; MPICH/Intel MPI (Hydra) and PMI-2; srun's job step.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"})
    if (const int n = env_count(name)) return n;
  return 0;
}

std::unique_ptr<Communicator> make_communicator() {
  const int launched = launched_world_size();
  if (launched > 0 && built_with_mpi()) return make_mpi_communicator();
  if (launched > 1)
    SRMDS_THROW("a launcher started " << launched
                                      << " processes, but this build of srmds has no MPI (SRMDS_WITH_MPI; Debian: "
                                         "libopenmpi-dev), so they cannot train together; run one process or rebuild "
                                         "with MPI");
  return make_single_process_communicator();
}

}  // namespace srmds::dist
