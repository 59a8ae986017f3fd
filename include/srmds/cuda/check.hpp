// Error checking for CUDA runtime, cuDNN and cuBLAS calls. Each macro throws srmds::Error naming
// the call, the status (name and text), the file and the line:
//   SRMDS_CUDA_CHECK(cudaMemcpyAsync(...));
//   SRMDS_CUDNN_CHECK(cudnnSetStream(handle, stream));
//   SRMDS_CUBLAS_CHECK(cublasCreate(&handle));
// Destructors must not throw: they use the *_WARN variants, which report to stderr and go on.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdio>

#include "srmds/core/error.hpp"

namespace srmds::cuda::detail {

inline const char* cublas_status_text(cublasStatus_t s) { return cublasGetStatusString(s); }

}  // namespace srmds::cuda::detail

#define SRMDS_CUDA_CHECK(call)                                                                          \
  do {                                                                                                  \
    const cudaError_t srmds_cuda_err_ = (call);                                                         \
    if (srmds_cuda_err_ != cudaSuccess)                                                                 \
      SRMDS_THROW("CUDA error: `" #call "` failed: " << cudaGetErrorName(srmds_cuda_err_) << ": "       \
                                                     << cudaGetErrorString(srmds_cuda_err_) << " ["    \
                                                     << ::srmds::detail::file_basename(__FILE__) << ":" \
                                                     << __LINE__ << "]");                               \
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

#define SRMDS_CUBLAS_CHECK(call)                                                                         \
  do {                                                                                                   \
    const cublasStatus_t srmds_cublas_st_ = (call);                                                      \
    if (srmds_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                       \
      SRMDS_THROW("cuBLAS error: `" #call "` failed: "                                                   \
                  << ::srmds::cuda::detail::cublas_status_text(srmds_cublas_st_) << " ("                 \
                  << static_cast<int>(srmds_cublas_st_) << ") ["                                         \
                  << ::srmds::detail::file_basename(__FILE__) << ":" << __LINE__ << "]");                \
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

#define SRMDS_CUBLAS_WARN(call)                                                                     \
  do {                                                                                              \
    const cublasStatus_t srmds_cublas_st_ = (call);                                                 \
    if (srmds_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                  \
      std::fprintf(stderr, "srmds: warning: `%s` failed: %s (%s:%d)\n", #call,                      \
                   cublasGetStatusString(srmds_cublas_st_), ::srmds::detail::file_basename(__FILE__), \
                   __LINE__);                                                                       \
  } while (0)
