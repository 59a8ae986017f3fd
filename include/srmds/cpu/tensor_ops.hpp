// CPU fill, strided copy and axpy. See ops/tensor_ops.hpp.
// Declarations only, defined in the library (src/cpu/dispatch/tensor_ops.cpp): fill and copy for
// float, double, int32_t and int64_t, axpy for float and double. Memory-bound, so compiled once
// (copy is memmove, which the C library already picks per processor), not per ISA level.
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void fill(Tensor<T, Cpu>& t, T value);

// dst = src (same shape; either may be a strided view, they may overlap).
template <class T>
void copy(const Tensor<T, Cpu>& src, Tensor<T, Cpu>& dst);

// y += alpha x
template <class T>
void axpy(T alpha, const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y);

}  // namespace srmds::cpu
