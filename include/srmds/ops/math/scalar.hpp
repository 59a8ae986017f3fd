// Scalar math overloaded on float and double, usable on the host and in CUDA kernels, so shared
// per-element code computes in the precision of its arguments (the plain C functions are double).
#pragma once

#include <cmath>

#include "srmds/core/macros.hpp"

namespace srmds::math {

SRMDS_HOST_DEVICE float exp(float x) { return ::expf(x); }
SRMDS_HOST_DEVICE double exp(double x) { return ::exp(x); }
SRMDS_HOST_DEVICE float log1p(float x) { return ::log1pf(x); }
SRMDS_HOST_DEVICE double log1p(double x) { return ::log1p(x); }
SRMDS_HOST_DEVICE float sqrt(float x) { return ::sqrtf(x); }
SRMDS_HOST_DEVICE double sqrt(double x) { return ::sqrt(x); }

// max(x, 0) that propagates NaN (as PyTorch's ReLU does), so a non-finite activation reaches the
// loss and stops training instead of being silently zeroed.
template <class T>
SRMDS_HOST_DEVICE T relu(T x) {
  return x <= T(0) ? T(0) : x;
}

}  // namespace srmds::math
