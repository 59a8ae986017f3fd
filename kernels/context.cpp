// Context<Cuda> (see include/srmds/cuda/context.hpp).
#include "srmds/cuda/context.hpp"

#include "check.hpp"
#include "srmds/cuda/counters.hpp"
#include "cudnn.hpp"

namespace srmds {

Context<Cuda>::Context(int device) {
  try {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
      (void)cudaGetLastError();  // clear the sticky error
      SRMDS_THROW("CUDA: no usable GPU: "
                  << (err == cudaSuccess || err == cudaErrorNoDevice
                          ? std::string("this machine has no CUDA-capable GPU")
                          : err == cudaErrorInsufficientDriver
                                ? std::string("the NVIDIA driver is missing or older than this CUDA runtime")
                                : std::string("the CUDA runtime reports ") + cudaGetErrorString(err))
                  << " (run with --device cpu)");
    }
    if (device >= count) SRMDS_THROW("CUDA: GPU " << device << " does not exist (this machine has " << count << ")");
    if (device < 0) SRMDS_CUDA_CHECK(cudaGetDevice(&device));
    m_device = device;
    SRMDS_CUDA_CHECK(cudaSetDevice(m_device));
    SRMDS_CUDA_CHECK(cudaDeviceGetAttribute(&m_sm_count, cudaDevAttrMultiProcessorCount, m_device));
    SRMDS_CUDA_CHECK(cudaStreamCreateWithFlags(&m_stream, cudaStreamNonBlocking));
    SRMDS_CUDNN_CHECK(cudnnCreate(&m_cudnn));
    SRMDS_CUDNN_CHECK(cudnnSetStream(m_cudnn, m_stream));
    m_allocator = new cuda::CachingAllocator(m_device);
    m_conv_plans = std::make_unique<cuda::detail::ConvPlanCache>();
  } catch (...) {
    destroy();
    throw;
  }
}

Context<Cuda>::~Context() { destroy(); }

void Context<Cuda>::destroy() noexcept {
  if (m_stream) SRMDS_CUDA_WARN(cudaStreamSynchronize(m_stream));
  m_conv_plans.reset();  // cuDNN descriptors, before the handle
  m_workspace.release();
  if (m_allocator) {
    m_allocator->orphan();
    m_allocator = nullptr;
  }
  if (m_cudnn) {
    SRMDS_CUDNN_WARN(cudnnDestroy(m_cudnn));
    m_cudnn = nullptr;
  }
  if (m_stream) {
    SRMDS_CUDA_WARN(cudaStreamDestroy(m_stream));
    m_stream = nullptr;
  }
}

void Context<Cuda>::synchronize() {
  cuda::detail::count_host_sync();
  SRMDS_CUDA_CHECK(cudaStreamSynchronize(m_stream));
}

void* Context<Cuda>::workspace(size_t bytes) {
  if (bytes > m_workspace.bytes()) {
    m_workspace.release();  // back to the cache; stream order keeps earlier users safe
    m_workspace = m_allocator->allocate(bytes);
  }
  return m_workspace.get();
}

void Context<Cuda>::release_cached_memory() {
  synchronize();
  m_allocator->release_cached();
}

}  // namespace srmds
