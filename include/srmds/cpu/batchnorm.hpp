// CPU BatchNorm2d (reference and production path). See ops/batchnorm.hpp for the contract.
//
//   training: mean_c = (1/M) sum x,  var_c = (1/M) sum (x - mean_c)^2  (biased),  M = N H W
//             invstd_c = 1 / sqrt(var_c + eps),  y = gamma_c (x - mean_c) invstd_c + beta_c
//             running_mean <- (1 - m) running_mean + m mean_c
//             running_var  <- (1 - m) running_var  + m var_c M / (M - 1)   (unbiased)
//   eval:     y = gamma_c (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c
//   backward: xhat = (x - mean) invstd,  dbeta = sum dy,  dgamma = sum dy xhat,
//             dx = gamma invstd (dy - dbeta / M - xhat dgamma / M)
// Statistics and channel sums are accumulated in double; the work is split over channels.
// Declarations only: the kernels (src/cpu/batchnorm.cpp) are compiled in the library for float and
// double, once per ISA level, and chosen at run time (cpu/isa.hpp).
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

template <class T>
void batchnorm_forward_train(const Tensor<T, Cpu>& x,                                           // (N, C, H, W)
                             const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta,           // (C)
                             Tensor<T, Cpu>& running_mean, Tensor<T, Cpu>& running_var,         // (C)
                             double momentum, double eps, Tensor<T, Cpu>& y, WriteMode y_mode,  // (N, C, H, W)
                             Tensor<T, Cpu>& save_mean, Tensor<T, Cpu>& save_invstd);           // (C)

template <class T>
void batchnorm_forward_eval(const Tensor<T, Cpu>& x,  // (N, C, H, W)
                            const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta, const Tensor<T, Cpu>& running_mean,
                            const Tensor<T, Cpu>& running_var,                 // (C)
                            double eps, Tensor<T, Cpu>& y, WriteMode y_mode);  // (N, C, H, W)

// dx, dgamma, dbeta may be nullptr (not wanted).
template <class T>
void batchnorm_backward(const Tensor<T, Cpu>& x,   // (N, C, H, W) forward input
                        const Tensor<T, Cpu>& dy,  // (N, C, H, W)
                        const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& save_mean,
                        const Tensor<T, Cpu>& save_invstd,      // (C)
                        Tensor<T, Cpu>* dx, WriteMode dx_mode,  // (N, C, H, W) or nullptr
                        Tensor<T, Cpu>* dgamma, Tensor<T, Cpu>* dbeta, WriteMode param_mode);  // (C) or nullptr

}  // namespace srmds::cpu
