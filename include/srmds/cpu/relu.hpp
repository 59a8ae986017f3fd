// CPU ReLU (reference and production path). See ops/relu.hpp. y = max(x, 0) propagating NaN
// (math::relu); backward dx (+)= dy [y > 0]. y may be x.
// Declarations only: the kernels (src/cpu/relu.cpp) are compiled in the library for float and
// double, once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void relu_forward(const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y);

template <class T>
void relu_backward(const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, WriteMode mode);

}  // namespace srmds::cpu
