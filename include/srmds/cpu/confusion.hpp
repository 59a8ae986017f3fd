// CPU per-image confusion counts (SPEC §4). See metrics/confusion_counts.hpp.
//   predicted = z >= 0 (p >= 0.5), lesion = mask >= 0.5;  counts[n] = (TP, FP, TN, FN)
// Each image's pixels are cut into fixed chunks counted in parallel, then added per image.
// Declaration only: the kernel (src/cpu/confusion.cpp) is compiled in the library for float and
// double, once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include <cstdint>

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void confusion_counts(const Tensor<T, Cpu>& z,         // (N, 1, H, W) logits
                      const Tensor<T, Cpu>& mask,      // (N, 1, H, W)
                      Tensor<int64_t, Cpu>& counts);  // (N, 4)

}  // namespace srmds::cpu
