// Error checking for CUDA runtime and cuDNN calls inside the CUDA backend (internal, not installed;
// the CUDA tests and the GPU benchmark use it too). Each macro throws srmds::Error naming the call,
// the status (name and text), the file and the line (and, for a kernel's fault, kernel_fault_hint):
//   SRMDS_CUDA_CHECK(cudaMemcpyAsync(...));
//   SRMDS_CUDNN_CHECK(cudnnSetStream(handle, stream));
// Destructors must not throw: they use the *_WARN variants, which report to stderr and go on.
#pragma once

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "srmds/core/error.hpp"

namespace srmds::cuda::detail {

// For the errors a kernel's fault leaves behind (sticky: every later call returns them), a hint
// that the call reporting it is not the culprit, unless launches are synchronous
// (CUDA_LAUNCH_BLOCKING=1), when the launch check of the faulting kernel reports it by name.
inline const char* kernel_fault_hint(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
    case cudaErrorIllegalInstruction:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchTimeout:
      break;
    default:
      return "";
  }
  static const bool blocking = [] {
    const char* v = std::getenv("CUDA_LAUNCH_BLOCKING");
    return v && std::strcmp(v, "1") == 0;
  }();
  return blocking ? ""
                  : " (a kernel's fault, reported late: rerun with CUDA_LAUNCH_BLOCKING=1 so that the launch "
                    "check names the kernel)";
}

}  // namespace srmds::cuda::detail

#define SRMDS_CUDA_CHECK(call)                                                                          \
  do {                                                                                                  \
    const cudaError_t srmds_cuda_err_ = (call);                                                         \
    if (srmds_cuda_err_ != cudaSuccess)                                                                 \
      SRMDS_THROW("CUDA error: `" #call "` failed: " << cudaGetErrorName(srmds_cuda_err_) << ": "       \
                                                     << cudaGetErrorString(srmds_cuda_err_) << " ["    \
                                                     << ::srmds::detail::file_basename(__FILE__) << ":" \
                                                     << __LINE__ << "]"                                 \
                                                     << ::srmds::cuda::detail::kernel_fault_hint(srmds_cuda_err_)); \
  } while (0)

#define SRMDS_CUDNN_CHECK(call)                                                                          \
  do {                                                                                                   \
    const cudnnStatus_t srmds_cudnn_st_ = (call);                                                        \
    if (srmds_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                                         \
      SRMDS_THROW("cuDNN error: `" #call "` failed: " << cudnnGetErrorString(srmds_cudnn_st_) << " ("    \
                                                      << static_cast<int>(srmds_cudnn_st_) << ") ["     \
                                                      << ::srmds::detail::file_basename(__FILE__) << ":" \
                                                      << __LINE__ << "]");                               \
  } while (0)

// Non-throwing variants for destructors and cleanup paths.
#define SRMDS_CUDA_WARN(call)                                                                       \
  do {                                                                                              \
    const cudaError_t srmds_cuda_err_ = (call);                                                     \
    if (srmds_cuda_err_ != cudaSuccess)                                                             \
      std::fprintf(stderr, "srmds: warning: `%s` failed: %s (%s:%d)\n", #call,                      \
                   cudaGetErrorString(srmds_cuda_err_), ::srmds::detail::file_basename(__FILE__),   \
                   __LINE__);                                                                       \
  } while (0)

#define SRMDS_CUDNN_WARN(call)                                                                      \
  do {                                                                                              \
    const cudnnStatus_t srmds_cudnn_st_ = (call);                                                   \
    if (srmds_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                                    \
      std::fprintf(stderr, "srmds: warning: `%s` failed: %s (%s:%d)\n", #call,                      \
                   cudnnGetErrorString(srmds_cudnn_st_), ::srmds::detail::file_basename(__FILE__),  \
                   __LINE__);                                                                       \
  } while (0)

