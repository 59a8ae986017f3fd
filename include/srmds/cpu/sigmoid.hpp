// CPU sigmoid. See ops/sigmoid.hpp. y = sigmoid_of(x) (ops/math/sigmoid.hpp, shared with the CUDA
// kernels); backward dx (+)= dy y (1 - y).
// Declarations only: the kernels (src/cpu/sigmoid.cpp) are compiled in the library for float and
// double, once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void sigmoid_forward(const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y);

template <class T>
void sigmoid_backward(const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, WriteMode mode);

}  // namespace srmds::cpu
