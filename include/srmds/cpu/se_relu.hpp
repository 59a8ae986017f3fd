// CPU squeeze-and-excitation followed by ReLU in one pass over the activations (forward only):
//   s[n, c] = mean_{h, w} x[n, c, h, w]
//   u = ReLU(W1 s + b1),  a = sigmoid(W2 u + b2)              (se_excitation, as cpu/se.hpp)
//   y[n, c, h, w] = max(x[n, c, h, w] a[n, c], 0)
// Equal to relu_forward(se_forward(x)) (the same float product, then the same max), but it reads
// x twice and writes y once instead of reading four and writing two planes, and y may be x
// itself (in place), so the SRFV blocks need no pre-SE temporary in eval mode. mean, hidden and
// scale are saved as se_forward saves them (SeSaved); both share the squeeze and excitation code.
// Declaration only: the kernel (src/cpu/se_relu.cpp) is compiled in the library for float and
// double, once per ISA level, and chosen at run time (cpu/isa.hpp). Checks its shapes.
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void se_relu_forward(const Tensor<T, Cpu>& x,                                                 // (N, C, H, W)
                     const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,                      // (Hd, C, 1, 1), (Hd)
                     const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2,                      // (C, Hd, 1, 1), (C)
                     Tensor<T, Cpu>& y,                                                       // (N, C, H, W), may be x
                     Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden, Tensor<T, Cpu>& scale);  // (N, C), (N, Hd), (N, C)

}  // namespace srmds::cpu
