// The MPI communicator (dist/communicator.hpp) over MPI_COMM_WORLD: MPI_Allreduce (MPI_SUM, then
// a division by N for the average), MPI_Iallreduce (all_reduce_start: MPI_Test drives it, as Open MPI
// progresses non-blocking collectives only inside MPI calls), MPI_Bcast, MPI_Barrier, MPI_Abort. MPI counts are int, so
// buffers of more than INT_MAX values go in pieces. Errors are returned, not fatal
// (MPI_ERRORS_RETURN), and thrown as srmds::Error naming the call and MPI's message. The local
// rank is the rank within MPI_Comm_split_type(MPI_COMM_TYPE_SHARED): the processes of one machine.
// Built only with SRMDS_HAVE_MPI=1 (cmake/SrmdsMpi.cmake); otherwise make_mpi_communicator() throws.
#include <algorithm>
#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include "srmds/dist/communicator.hpp"

#if SRMDS_HAVE_MPI
#include <mpi.h>
#endif

namespace srmds::dist {

#if SRMDS_HAVE_MPI

namespace {

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(code, text, &len);
  SRMDS_THROW("MPI: " << call << " failed: " << std::string(text, static_cast<size_t>(std::max(len, 0))));
}

template <class T>
MPI_Datatype mpi_type();
template <>
MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <>
MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

// The pieces of one non-blocking all-reduce (one MPI request per INT_MAX values).
class MpiRequest final : public Request {
public:
  ~MpiRequest() override {
    if (!m_done && !m_requests.empty()) MPI_Waitall(static_cast<int>(m_requests.size()), m_requests.data(), MPI_STATUSES_IGNORE);
  }
  void add(MPI_Request r) { m_requests.push_back(r); }
  bool test() override {
    if (m_done) return true;
    int flag = 0;
    check_mpi(MPI_Testall(static_cast<int>(m_requests.size()), m_requests.data(), &flag, MPI_STATUSES_IGNORE),
              "MPI_Testall");
    m_done = flag != 0;
    return m_done;
  }
  void wait() override {
    if (m_done) return;
    m_done = true;  // MPI has released the requests, even on an error
    check_mpi(MPI_Waitall(static_cast<int>(m_requests.size()), m_requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  }

private:
  std::vector<MPI_Request> m_requests;
  bool m_done = false;
};

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator() {
    int initialized = 0;
    check_mpi(MPI_Initialized(&initialized), "MPI_Initialized");
    if (!initialized) {
      check_mpi(MPI_Init(nullptr, nullptr), "MPI_Init");
      m_owns_mpi = true;
    }
    check_mpi(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &m_rank), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &m_size), "MPI_Comm_size");
    MPI_Comm node = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, m_rank, MPI_INFO_NULL, &node),
              "MPI_Comm_split_type");
    check_mpi(MPI_Comm_rank(node, &m_local_rank), "MPI_Comm_rank (node)");
    MPI_Comm_free(&node);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (m_owns_mpi && !finalized) MPI_Finalize();
  }

  const char* name() const override { return "MPI"; }
  int rank() const override { return m_rank; }
  int world_size() const override { return m_size; }
  int local_rank() const override { return m_local_rank; }
  void barrier() override { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  [[noreturn]] void abort(int exit_code) noexcept override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort does not return; should it, this process still ends
  }

private:
  template <class T>
  void reduce(T* data, int64_t count, ReduceOp op) {
    for (int64_t done = 0; done < count;) {
      const int n = static_cast<int>(std::min<int64_t>(count - done, INT_MAX));
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + done, n, mpi_type<T>(), MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
      done += n;
    }
    if (op == ReduceOp::Average && m_size > 1) {
      const T n = static_cast<T>(m_size);
      for (int64_t i = 0; i < count; ++i) data[i] /= n;
    }
  }
  void all_reduce_impl(float* data, int64_t count, ReduceOp op) override { reduce(data, count, op); }
  std::unique_ptr<Request> all_reduce_start_impl(float* data, int64_t count) override {
    auto request = std::make_unique<MpiRequest>();
    for (int64_t done = 0; done < count;) {
      const int n = static_cast<int>(std::min<int64_t>(count - done, INT_MAX));
      MPI_Request r = MPI_REQUEST_NULL;
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data + done, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r), "MPI_Iallreduce");
      request->add(r);
      done += n;
    }
    return request;
  }
  void all_reduce_impl(double* data, int64_t count, ReduceOp op) override { reduce(data, count, op); }
  void broadcast_impl(void* data, int64_t bytes, int root) override {
    char* p = static_cast<char*>(data);
    for (int64_t done = 0; done < bytes;) {
      const int n = static_cast<int>(std::min<int64_t>(bytes - done, INT_MAX));
      check_mpi(MPI_Bcast(p + done, n, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
      done += n;
    }
  }

  int m_rank = 0, m_size = 1, m_local_rank = 0;
  bool m_owns_mpi = false;
};

}  // namespace

bool built_with_mpi() { return true; }
std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

#else

bool built_with_mpi() { return false; }
std::unique_ptr<Communicator> make_mpi_communicator() {
  SRMDS_THROW("this build of srmds has no MPI (configure with SRMDS_WITH_MPI=ON and Debian's libopenmpi-dev)");
}

#endif

}  // namespace srmds::dist
