// Overflow-free logistic sigmoid. Shared by the CPU backend (cpu/) and the CUDA kernels (kernels/).
#pragma once

#include "srmds/core/macros.hpp"
#include "srmds/ops/math/scalar.hpp"

namespace srmds {

// 1 / (1 + exp(-x)) without overflow for large |x|.
template <class T>
SRMDS_HOST_DEVICE T sigmoid_of(T x) {
  if (x >= T(0)) return T(1) / (T(1) + math::exp(-x));
  const T e = math::exp(x);
  return e / (T(1) + e);
}

}  // namespace srmds
