// SRMDS_HOST_DEVICE marks per-element math shared by the CPU backend and the CUDA kernels, so the
// CPU tests exercise the same code the GPU runs.
#pragma once

#if defined(__CUDACC__)
#define SRMDS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SRMDS_HOST_DEVICE inline
#endif

#ifndef SRMDS_WITH_CUDA
#define SRMDS_WITH_CUDA 0
#endif
