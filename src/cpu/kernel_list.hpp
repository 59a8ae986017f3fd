// The CPU kernels, declared once. Every entry X(name, return type, (parameters), arguments...)
// is one kernel of every ISA variant, for float and double (T), and from this list come:
//   - its slot in the kernel table (kernel_table.hpp: Kernels<T>::name, typed after the public
//     declaration cpu::name<T> in include/srmds/cpu/<op>.hpp, so the two cannot drift apart),
//   - its public entry point, which calls the slot of the variant in use (dispatch/entries.cpp),
//   - the declaration of srmds::cpu::<isa>::name<T> and the filling of the slot in each variant
//     (kernel_table.cpp); the kernel's source file defines and instantiates it
//     (SRMDS_CPU_INSTANTIATE).
// SRMDS_CPU_DETAIL_KERNELS are the same for cpu::detail (test hooks). The bf16 convolutions, float
// only and present in some variants only, have their own list (SRMDS_CPU_BF16_KERNELS).
// A new CPU op: declare it in include/srmds/cpu/<op>.hpp, add it here, and define it in
// src/cpu/<op>.cpp (listed in cmake/SrmdsCpuKernels.cmake). check_kernel_table() (isa.cpp) refuses
// a variant with an empty slot at start-up; tests/test_cpu_isa.cpp checks every variant.
#pragma once

#define SRMDS_CPU_KERNELS(X)                                                                                          \
  X(adam_step, void,                                                                                                  \
    (Tensor<T, Cpu>& param, const Tensor<T, Cpu>& grad, Tensor<T, Cpu>& m, Tensor<T, Cpu>& v, const AdamStep& step), \
    param, grad, m, v, step)                                                                                          \
  X(batchnorm_forward_train, void,                                                                                    \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta, Tensor<T, Cpu>& running_mean,  \
     Tensor<T, Cpu>& running_var, double momentum, double eps, Tensor<T, Cpu>& y, WriteMode y_mode,                   \
     Tensor<T, Cpu>& save_mean, Tensor<T, Cpu>& save_invstd),                                                         \
    x, gamma, beta, running_mean, running_var, momentum, eps, y, y_mode, save_mean, save_invstd)                      \
  X(batchnorm_forward_eval, void,                                                                                     \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& beta,                                \
     const Tensor<T, Cpu>& running_mean, const Tensor<T, Cpu>& running_var, double eps, Tensor<T, Cpu>& y,            \
     WriteMode y_mode),                                                                                               \
    x, gamma, beta, running_mean, running_var, eps, y, y_mode)                                                        \
  X(batchnorm_backward, void,                                                                                         \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& gamma, const Tensor<T, Cpu>& save_mean, \
     const Tensor<T, Cpu>& save_invstd, Tensor<T, Cpu>* dx, WriteMode dx_mode, Tensor<T, Cpu>* dgamma,                \
     Tensor<T, Cpu>* dbeta, WriteMode param_mode),                                                                    \
    x, dy, gamma, save_mean, save_invstd, dx, dx_mode, dgamma, dbeta, param_mode)                                     \
  X(bce_dice_loss, double,                                                                                            \
    (const Tensor<T, Cpu>& z, const Tensor<T, Cpu>& y, double weight, double dice_weight, Tensor<T, Cpu>* dz,         \
     WriteMode mode),                                                                                                 \
    z, y, weight, dice_weight, dz, mode)                                                                              \
  X(cbam_forward, void,                                                                                               \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& ws,           \
     const Tensor<T, Cpu>& bs, Tensor<T, Cpu>& y, CbamSaved<T, Cpu>& sv),                                             \
    x, w1, w2, ws, bs, y, sv)                                                                                         \
  X(cbam_backward, void,                                                                                              \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,           \
     const Tensor<T, Cpu>& ws, const CbamSaved<T, Cpu>& sv, Tensor<T, Cpu>& dx, WriteMode dx_mode,                    \
     Tensor<T, Cpu>& dw1, Tensor<T, Cpu>& dw2, Tensor<T, Cpu>& dws, Tensor<T, Cpu>& dbs, WriteMode param_mode),       \
    x, dy, w1, w2, ws, sv, dx, dx_mode, dw1, dw2, dws, dbs, param_mode)                                               \
  X(confusion_counts, void, (const Tensor<T, Cpu>& z, const Tensor<T, Cpu>& mask, Tensor<int64_t, Cpu>& counts), z,   \
    mask, counts)                                                                                                     \
  X(conv2d_forward_with, void,                                                                                        \
    (ConvAlgo algo, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const Tensor<T, Cpu>* bias, Tensor<T, Cpu>& y), \
    algo, x, w, bias, y)                                                                                              \
  X(conv2d_backward_data_with, void,                                                                                  \
    (ConvAlgo algo, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w, Tensor<T, Cpu>& dx, WriteMode mode), algo, dy, \
    w, dx, mode)                                                                                                      \
  X(conv2d_backward_filter_with, void,                                                                                \
    (ConvAlgo algo, const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dw, WriteMode mode), algo, x,  \
    dy, dw, mode)                                                                                                     \
  X(conv2d_backward_bias, void, (const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& db, WriteMode mode), dy, db, mode)         \
  X(conv2d_branches_winograd_forward, void,                                                                           \
    (const Tensor<T, Cpu>& x, const std::vector<const Tensor<T, Cpu>*>& w, const std::vector<Tensor<T, Cpu>*>& y), x, \
    w, y)                                                                                                             \
  X(conv2d_branches_winograd_backward_filter, void,                                                                   \
    (const Tensor<T, Cpu>& x, const std::vector<const Tensor<T, Cpu>*>& dy, const std::vector<Tensor<T, Cpu>*>& dw,   \
     bool accumulate),                                                                                                \
    x, dy, dw, accumulate)                                                                                            \
  X(conv2d_winograd3x3, void,                                                                                         \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias,      \
     Tensor<T, Cpu>& y),                                                                                              \
    x, w, bias, y)                                                                                                    \
  X(conv2d_winograd3x3_f4x4, void,                                                                                    \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const srmds::detail::non_deduced_t<Tensor<T, Cpu>>* bias,      \
     Tensor<T, Cpu>& y),                                                                                              \
    x, w, bias, y)                                                                                                    \
  X(downsample_target, void, (const Tensor<T, Cpu>& mask, Tensor<T, Cpu>& out, int factor, TargetMode mode), mask,    \
    out, factor, mode)                                                                                                \
  X(maxpool2_forward, void, (const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y, Tensor<int32_t, Cpu>& argmax), x, y, argmax) \
  X(maxpool2_backward, void,                                                                                          \
    (const Tensor<T, Cpu>& dy, const Tensor<int32_t, Cpu>& argmax, Tensor<T, Cpu>& dx, WriteMode mode), dy, argmax,   \
    dx, mode)                                                                                                         \
  X(psa_forward, void,                                                                                                \
    (const Tensor<T, Cpu>& x, const PsaWeights<T, Cpu>& p, Tensor<T, Cpu>& y, PsaSaved<T, Cpu>& sv), x, p, y, sv)     \
  X(psa_backward, void,                                                                                               \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const PsaWeights<T, Cpu>& p, const PsaSaved<T, Cpu>& sv,      \
     Tensor<T, Cpu>& dx, WriteMode dx_mode, const PsaGrads<T, Cpu>& g, WriteMode param_mode),                         \
    x, dy, p, sv, dx, dx_mode, g, param_mode)                                                                         \
  X(relu_forward, void, (const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y), x, y)                                           \
  X(relu_backward, void, (const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, WriteMode mode), y,  \
    dy, dx, mode)                                                                                                     \
  X(se_forward, void,                                                                                                 \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1, const Tensor<T, Cpu>& w2,           \
     const Tensor<T, Cpu>& b2, Tensor<T, Cpu>& y, Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden,                       \
     Tensor<T, Cpu>& scale),                                                                                          \
    x, w1, b1, w2, b2, y, mean, hidden, scale)                                                                        \
  X(se_backward, void,                                                                                                \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,           \
     const Tensor<T, Cpu>& mean, const Tensor<T, Cpu>& hidden, const Tensor<T, Cpu>& scale, Tensor<T, Cpu>& dx,       \
     WriteMode dx_mode, Tensor<T, Cpu>& dw1, Tensor<T, Cpu>& db1, Tensor<T, Cpu>& dw2, Tensor<T, Cpu>& db2,           \
     WriteMode param_mode),                                                                                           \
    x, dy, w1, w2, mean, hidden, scale, dx, dx_mode, dw1, db1, dw2, db2, param_mode)                                  \
  X(se_relu_forward, void,                                                                                            \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1, const Tensor<T, Cpu>& w2,           \
     const Tensor<T, Cpu>& b2, Tensor<T, Cpu>& y, Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden,                       \
     Tensor<T, Cpu>& scale),                                                                                          \
    x, w1, b1, w2, b2, y, mean, hidden, scale)                                                                        \
  X(sge_forward, void,                                                                                                \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& weight, const Tensor<T, Cpu>& bias, Tensor<T, Cpu>& y,            \
     Tensor<T, Cpu>& mean, Tensor<T, Cpu>& norm, Tensor<T, Cpu>& stdev),                                              \
    x, weight, bias, y, mean, norm, stdev)                                                                            \
  X(sge_backward, void,                                                                                               \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& weight, const Tensor<T, Cpu>& bias,     \
     const Tensor<T, Cpu>& mean, const Tensor<T, Cpu>& norm, const Tensor<T, Cpu>& stdev, Tensor<T, Cpu>& dx,         \
     WriteMode dx_mode, Tensor<T, Cpu>& dweight, Tensor<T, Cpu>& dbias, WriteMode param_mode),                        \
    x, dy, weight, bias, mean, norm, stdev, dx, dx_mode, dweight, dbias, param_mode)                                  \
  X(sigmoid_forward, void, (const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y), x, y)                                        \
  X(sigmoid_backward, void, (const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, WriteMode mode),  \
    y, dy, dx, mode)                                                                                                  \
  X(upsample_bilinear_forward, void, (const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y, bool align_corners), x, y,          \
    align_corners)                                                                                                    \
  X(upsample_bilinear_backward, void,                                                                                 \
    (const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, bool align_corners, WriteMode mode), dy, dx, align_corners, mode)

#define SRMDS_CPU_DETAIL_KERNELS(X)                                                                                    \
  X(conv2d_banded, void,                                                                                               \
    (const Tensor<T, Cpu>& x, const T* wmat, int kh, int kw, const T* bias, Tensor<T, Cpu>& y, bool accumulate,        \
     int64_t tile_bytes, int64_t min_band_cols),                                                                       \
    x, wmat, kh, kw, bias, y, accumulate, tile_bytes, min_band_cols)                                                   \
  X(conv2d_filter_banded, void,                                                                                        \
    (const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, int kh, int kw, T* dwmat, bool accumulate, int64_t tile_bytes, \
     int64_t min_band_cols),                                                                                           \
    x, dy, kh, kw, dwmat, accumulate, tile_bytes, min_band_cols)

// X(name, lowest ISA that has it): the bf16 convolutions (see Bf16Kernels in kernel_table.hpp).
#define SRMDS_CPU_BF16_KERNELS(X) \
  X(conv3x3_fma, Baseline)        \
  X(conv3x3_dot, Avx512)          \
  X(winograd3x3_fma, Baseline)    \
  X(winograd3x3_dot, Avx512)      \
  X(winograd3x3_amx, Avx512)
