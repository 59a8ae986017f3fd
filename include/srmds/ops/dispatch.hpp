// Shared by the op headers: the CUDA declarations when that backend is built, and the macro
// that routes a checked op to its CPU or CUDA implementation.
//
//   SRMDS_DISPATCH(D, cpu::relu_forward(x, y), cuda::relu_forward(ctx, x, y));
//
// The CPU implementations (include/srmds/cpu/) are templates over float and double; the CUDA
// ones (kernels/, declared in cuda/ops.hpp) take float tensors.
#pragma once

#include "srmds/core/context.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/core/tensor.hpp"

#if SRMDS_WITH_CUDA
#include "srmds/cuda/ops.hpp"
#define SRMDS_DISPATCH(D, cpu_call, cuda_call) \
  do {                                         \
    if constexpr (::srmds::is_cpu_v<D>) {      \
      cpu_call;                                \
    } else {                                   \
      cuda_call;                               \
    }                                          \
  } while (0)
#else
#define SRMDS_DISPATCH(D, cpu_call, cuda_call)                                      \
  do {                                                                              \
    static_assert(::srmds::is_cpu_v<D>, "srmds was built without the CUDA backend"); \
    cpu_call;                                                                       \
  } while (0)
#endif
