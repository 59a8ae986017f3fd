// CPU pieces of synchronised BatchNorm (ops/sync_batchnorm.hpp): the per-channel sums a process
// contributes, and the normalisation and input gradient from statistics computed elsewhere, with the
// arithmetic of the ordinary kernels (cpu/batchnorm.hpp) once the statistics are given. Sums are
// accumulated in double. Compiled for float and double in src/ops/sync_batchnorm.cpp.
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

// Shifted sums over (N, H, W) of each channel c of C, in one pass:
//   sums[c] = sum (x - shift[c]),  sums[C + c] = sum (x - shift[c])^2.
template <class T>
void batchnorm_shifted_sums(const Tensor<T, Cpu>& x, const double* shift, double* sums);

// y (y_mode) = k_c x + b_c with k_c = T(gamma_c invstd_c), b_c = T(beta_c - mean_c gamma_c invstd_c).
template <class T>
void batchnorm_normalize(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta,
                         const double* mean, const double* invstd, Tensor<T, Cpu>& y, WriteMode y_mode);

// sums[c] = sum dy,  sums[C + c] = sum dy (x - save_mean_c), over (N, H, W).
template <class T>
void batchnorm_grad_sums(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& save_mean,
                         double* sums);

// dx (dx_mode) = batchnorm_input_grad(dy, (x - mean) invstd, T(gamma invstd), T(mean_dy_c), T(mean_dy_xhat_c))
// with mean, invstd = save_mean, save_invstd.
template <class T>
void batchnorm_input_grad_from(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& gamma,
                               const Tensor<T, Cpu>& save_mean, const Tensor<T, Cpu>& save_invstd,
                               const double* mean_dy, const double* mean_dy_xhat, Tensor<T, Cpu>& dx,
                               WriteMode dx_mode);

}  // namespace srmds::cpu
