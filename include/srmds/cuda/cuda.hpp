// The CUDA backend in one include: the context (stream, handles, allocator, workspace) and the
// declarations of the CUDA ops. The checked ops in srmds/ops/ dispatch to them for Tensor<float, Cuda>.
#pragma once

#include "srmds/cuda/check.hpp"
#include "srmds/cuda/context.hpp"
#include "srmds/cuda/ops.hpp"
