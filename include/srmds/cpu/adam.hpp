// CPU Adam update (reference and production path). See optim/adam.hpp; the per-element update is
// adam_update() in ops/math/adam.hpp, shared with the CUDA kernel.
// Declaration only: the kernel (src/cpu/adam.cpp) is compiled in the library for float and double,
// once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"
#include "srmds/ops/math/adam.hpp"

namespace srmds::cpu {

// One Adam step on every element of param, with its moments m and v (all four of one shape).
template <class T>
void adam_step(Tensor<T, Cpu>& param, const Tensor<T, Cpu>& grad, Tensor<T, Cpu>& m, Tensor<T, Cpu>& v,
               const AdamStep& step);

}  // namespace srmds::cpu
