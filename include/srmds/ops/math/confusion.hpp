// Confusion-matrix cell of one pixel (prediction z >= 0 against mask >= 0.5). Shared by the CPU backend
// (cpu/) and the CUDA kernels (kernels/).
#pragma once

#include "srmds/core/macros.hpp"

namespace srmds {

// Which counter (TP 0, FP 1, TN 2, FN 3) one pixel increments. Shared with the CUDA kernel.
template <class T>
SRMDS_HOST_DEVICE int confusion_cell(T z, T mask) {
  const bool pred = z >= T(0);
  const bool lesion = mask >= T(0.5);
  return pred ? (lesion ? 0 : 1) : (lesion ? 3 : 2);
}

}  // namespace srmds
