// Training-mode BatchNorm input gradient of one element. Shared by the CPU backend (cpu/) and the CUDA
// kernels (kernels/).
#pragma once

#include "srmds/core/macros.hpp"

namespace srmds {

// dL/dx of one element of a training-mode BatchNorm, given k = gamma invstd, the channel means
// of dy and of dy * xhat. Shared with the CUDA kernels.
template <class T>
SRMDS_HOST_DEVICE T batchnorm_input_grad(T dy, T xhat, T k, T mean_dy, T mean_dy_xhat) {
  return k * (dy - mean_dy - xhat * mean_dy_xhat);
}

}  // namespace srmds
