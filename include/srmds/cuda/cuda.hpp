// The CUDA backend's public surface in one include: the context (stream, cuDNN handle, allocator,
// workspace, TF32 and deterministic switches, allocator statistics) and the declarations of the
// CUDA ops that the checked ops in srmds/ops/ dispatch to for Tensor<float, Cuda>. Everything else
// of the backend (kernels, launchers, the cuDNN wrapper, error-check macros) is internal to kernels/.
#pragma once

#include "srmds/cuda/context.hpp"
#include "srmds/cuda/ops.hpp"
