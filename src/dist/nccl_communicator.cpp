// The NCCL communicator (dist/nccl_communicator.hpp). Built with SRMDS_HAVE_NCCL=1 where the CUDA
// backend and nccl.h are found (cmake/SrmdsNccl.cmake); NCCL's functions are resolved from
// libnccl.so.2 with dlopen/dlsym at the first make_nccl_communicator, so nothing links against NCCL.
#include "srmds/dist/nccl_communicator.hpp"

#include <chrono>
#include <cstdlib>
#include <string>

#if SRMDS_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nccl.h>
#endif

namespace srmds::dist {

#if SRMDS_HAVE_NCCL

namespace {

// The NCCL functions this file calls, from the library loaded at run time.
struct NcclApi {
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
  decltype(&ncclRedOpCreatePreMulSum) red_op_create_pre_mul_sum = nullptr;
  decltype(&ncclRedOpDestroy) red_op_destroy = nullptr;
  decltype(&ncclGetErrorString) get_error_string = nullptr;
};

const NcclApi& nccl_api() {
  static const NcclApi api = [] {
    std::string tried;
    void* lib = nullptr;
    std::vector<std::string> names;
    if (const char* env = std::getenv("SRMDS_NCCL_LIBRARY"); env && *env) names.push_back(env);
    names.push_back("libnccl.so.2");
    names.push_back("libnccl.so");
    for (const std::string& n : names) {
      lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
      const char* e = dlerror();
      tried += "\n  " + n + ": " + (e ? e : "not found");
    }
    SRMDS_CHECK(lib, "NCCL: the library could not be loaded (put libnccl.so.2, e.g. PyTorch's nvidia/nccl/lib, on "
                     "LD_LIBRARY_PATH, or name the file in SRMDS_NCCL_LIBRARY):"
                         << tried);
    NcclApi a;
    const auto get = [lib](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      SRMDS_CHECK(fn, "NCCL: the library loaded has no " << name << " (NCCL 2.11 or newer is needed)");
    };
    get(a.get_version, "ncclGetVersion");
    get(a.get_unique_id, "ncclGetUniqueId");
    get(a.comm_init_rank, "ncclCommInitRank");
    get(a.comm_destroy, "ncclCommDestroy");
    get(a.all_reduce, "ncclAllReduce");
    get(a.broadcast, "ncclBroadcast");
    get(a.red_op_create_pre_mul_sum, "ncclRedOpCreatePreMulSum");
    get(a.red_op_destroy, "ncclRedOpDestroy");
    get(a.get_error_string, "ncclGetErrorString");
    return a;
  }();
  return api;
}

void check_nccl(ncclResult_t r, const char* call) {
  if (r == ncclSuccess) return;
  SRMDS_THROW("NCCL: " << call << " failed: " << nccl_api().get_error_string(r) << " (" << static_cast<int>(r) << ")");
}

void check_cuda(cudaError_t e, const char* call) {
  if (e == cudaSuccess) return;
  SRMDS_THROW("NCCL communicator: " << call << " failed: " << cudaGetErrorString(e));
}

class NcclCommunicatorImpl final : public NcclCommunicator {
public:
  NcclCommunicatorImpl(Communicator& bootstrap, int device) : m_boot(bootstrap), m_device(device) {
    const NcclApi& api = nccl_api();
    check_nccl(api.get_version(&m_version), "ncclGetVersion");
    ncclUniqueId id{};
    if (bootstrap.rank() == 0) check_nccl(api.get_unique_id(&id), "ncclGetUniqueId");
    bootstrap.broadcast(&id, sizeof id, 0);
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    check_nccl(api.comm_init_rank(&m_comm, bootstrap.world_size(), id, bootstrap.rank()), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&m_stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    check_cuda(cudaEventCreateWithFlags(&m_ready, cudaEventDisableTiming), "cudaEventCreateWithFlags");
    check_cuda(cudaEventCreateWithFlags(&m_done, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  }
  ~NcclCommunicatorImpl() override {
    if (m_stream) cudaStreamSynchronize(m_stream);
    if (m_flat) cudaFree(m_flat);
    if (m_ready) cudaEventDestroy(m_ready);
    if (m_done) cudaEventDestroy(m_done);
    if (m_stream) cudaStreamDestroy(m_stream);
    if (m_comm) nccl_api().comm_destroy(m_comm);
  }

  const char* name() const override { return "NCCL"; }
  int rank() const override { return m_boot.rank(); }
  int world_size() const override { return m_boot.world_size(); }
  int local_rank() const override { return m_boot.local_rank(); }
  int device() const override { return m_device; }
  int nccl_version() const override { return m_version; }
  void barrier() override { m_boot.barrier(); }
  [[noreturn]] void abort(int exit_code) noexcept override {
    m_boot.abort(exit_code);
    std::_Exit(exit_code);  // abort() does not return; should it, this process still ends
  }
  double seconds() const override { return m_seconds; }

  void reduce_gradients(void* stream, const std::vector<std::pair<float*, int64_t>>& grads, double scale) override {
    const auto start = std::chrono::steady_clock::now();
    const auto s = static_cast<cudaStream_t>(stream);
    int64_t total = 0;
    for (const auto& g : grads) total += g.second;
    if (total > m_capacity) {
      check_cuda(cudaStreamSynchronize(m_stream), "cudaStreamSynchronize");
      check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize");
      if (m_flat) cudaFree(m_flat);
      m_flat = nullptr;
      check_cuda(cudaMalloc(reinterpret_cast<void**>(&m_flat), static_cast<size_t>(total) * sizeof(float)), "cudaMalloc");
      m_capacity = total;
    }
    int64_t at = 0;
    for (const auto& g : grads) {  // pack, on the caller's stream (after the backward pass)
      if (g.second > 0)
        check_cuda(cudaMemcpyAsync(m_flat + at, g.first, static_cast<size_t>(g.second) * sizeof(float),
                                   cudaMemcpyDeviceToDevice, s),
                   "cudaMemcpyAsync");
      at += g.second;
    }
    check_cuda(cudaEventRecord(m_ready, s), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(m_stream, m_ready, 0), "cudaStreamWaitEvent");
    float factor = static_cast<float>(scale);
    ncclRedOp_t op;
    check_nccl(nccl_api().red_op_create_pre_mul_sum(&op, &factor, ncclFloat, ncclScalarHostImmediate, m_comm),
               "ncclRedOpCreatePreMulSum");
    const ncclResult_t r =
        nccl_api().all_reduce(m_flat, m_flat, static_cast<size_t>(total), ncclFloat, op, m_comm, m_stream);
    nccl_api().red_op_destroy(op, m_comm);
    check_nccl(r, "ncclAllReduce");
    check_cuda(cudaEventRecord(m_done, m_stream), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(s, m_done, 0), "cudaStreamWaitEvent");
    at = 0;
    for (const auto& g : grads) {  // unpack, on the caller's stream (before the optimizer)
      if (g.second > 0)
        check_cuda(cudaMemcpyAsync(g.first, m_flat + at, static_cast<size_t>(g.second) * sizeof(float),
                                   cudaMemcpyDeviceToDevice, s),
                   "cudaMemcpyAsync");
      at += g.second;
    }
    m_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

private:
  // Device buffers, on NCCL's stream, synchronised with the host.
  void all_reduce_impl(float* data, int64_t count, ReduceOp op) override { reduce(data, count, ncclFloat, op); }
  void all_reduce_impl(double* data, int64_t count, ReduceOp op) override { reduce(data, count, ncclDouble, op); }
  void reduce(void* data, int64_t count, ncclDataType_t type, ReduceOp op) {
    if (count == 0) return;
    check_nccl(nccl_api().all_reduce(data, data, static_cast<size_t>(count), type,
                                     op == ReduceOp::Average ? ncclAvg : ncclSum, m_comm, m_stream),
               "ncclAllReduce");
    check_cuda(cudaStreamSynchronize(m_stream), "cudaStreamSynchronize");
  }
  void broadcast_impl(void* data, int64_t bytes, int root) override {
    if (bytes == 0) return;
    check_nccl(nccl_api().broadcast(data, data, static_cast<size_t>(bytes), ncclChar, root, m_comm, m_stream),
               "ncclBroadcast");
    check_cuda(cudaStreamSynchronize(m_stream), "cudaStreamSynchronize");
  }

  Communicator& m_boot;
  int m_device = 0;
  int m_version = 0;
  ncclComm_t m_comm = nullptr;
  cudaStream_t m_stream = nullptr;
  cudaEvent_t m_ready = nullptr, m_done = nullptr;
  float* m_flat = nullptr;
  int64_t m_capacity = 0;
  double m_seconds = 0;
};

}  // namespace

bool built_with_nccl() { return true; }
std::string nccl_load_error() {
  try {
    nccl_api();
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}
std::unique_ptr<NcclCommunicator> make_nccl_communicator(Communicator& bootstrap, int device) {
  SRMDS_CHECK(!bootstrap.device_buffers(), "make_nccl_communicator: the bootstrap communicator must reduce host buffers");
  return std::make_unique<NcclCommunicatorImpl>(bootstrap, device);
}

#else

bool built_with_nccl() { return false; }
std::string nccl_load_error() { return "this build of srmds has no NCCL (SRMDS_WITH_NCCL)"; }
std::unique_ptr<NcclCommunicator> make_nccl_communicator(Communicator&, int) {
  SRMDS_THROW("this build of srmds has no NCCL (configure with the CUDA backend, MPI and SRMDS_WITH_NCCL; nccl.h "
              "comes with the CUDA toolkit)");
}

#endif

}  // namespace srmds::dist
