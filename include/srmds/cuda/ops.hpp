// Declarations of the CUDA implementations behind the checked ops in include/srmds/ops/ (and the
// loss, confusion counts and Adam step). They are public because the checked ops are header
// templates that dispatch here (SRMDS_DISPATCH in ops/dispatch.hpp): one list of the backend's
// entry points, defined in kernels/<op>.cu (kernel, launcher and op together), cuDNN calls in
// kernels/cudnn_conv.cpp, host/device copies in kernels/transfer.cpp. Each takes float tensors
// already validated by the checked op, and runs on the context's stream. Call the checked ops,
// not these.
#pragma once

#include <cstdint>
#include <vector>

#include "srmds/core/device.hpp"
#include "srmds/core/tensor.hpp"
#include "srmds/ops/attention_state.hpp"
#include "srmds/ops/batchnorm_term.hpp"

namespace srmds::cuda {

using Ctx = Context<Cuda>;
using TF = Tensor<float, Cuda>;
using TH = Tensor<float, Cpu>;

// tensor_ops
void fill(Ctx& ctx, TF& t, float value);
void copy(Ctx& ctx, const TF& src, TF& dst);
void copy(Ctx& ctx, const Tensor<double, Cuda>& src, Tensor<double, Cuda>& dst);  // e.g. a loss slot
void axpy(Ctx& ctx, float alpha, const TF& x, TF& y);
void copy_host_to_device(Ctx& ctx, const TH& src, TF& dst);
void copy_device_to_host(Ctx& ctx, const TF& src, TH& dst);  // synchronizes the stream
// The same for integer tensors (max-pool argmax, confusion counts).
void copy_host_to_device(Ctx& ctx, const Tensor<int32_t, Cpu>& src, Tensor<int32_t, Cuda>& dst);
void copy_device_to_host(Ctx& ctx, const Tensor<int32_t, Cuda>& src, Tensor<int32_t, Cpu>& dst);
void copy_host_to_device(Ctx& ctx, const Tensor<int64_t, Cpu>& src, Tensor<int64_t, Cuda>& dst);
void copy_device_to_host(Ctx& ctx, const Tensor<int64_t, Cuda>& src, Tensor<int64_t, Cpu>& dst);
// And for double tensors (device-side loss values, read back once per logging interval).
void copy_host_to_device(Ctx& ctx, const Tensor<double, Cpu>& src, Tensor<double, Cuda>& dst);
void copy_device_to_host(Ctx& ctx, const Tensor<double, Cuda>& src, Tensor<double, Cpu>& dst);

// elementwise
void relu_forward(Ctx& ctx, const TF& x, TF& y);
void relu_backward(Ctx& ctx, const TF& y, const TF& dy, TF& dx, WriteMode mode);
void sigmoid_forward(Ctx& ctx, const TF& x, TF& y);
void sigmoid_backward(Ctx& ctx, const TF& y, const TF& dy, TF& dx, WriteMode mode);

// conv2d (cuDNN)
void conv2d_forward(Ctx& ctx, const TF& x, const TF& w, const TF* bias, TF& y);
void conv2d_backward_data(Ctx& ctx, const TF& dy, const TF& w, TF& dx, WriteMode mode);
void conv2d_backward_filter(Ctx& ctx, const TF& x, const TF& dy, TF& dw, WriteMode mode);
void conv2d_backward_bias(Ctx& ctx, const TF& dy, TF& db, WriteMode mode);

// batchnorm
void batchnorm_forward_train(Ctx& ctx, const TF& x, const TF& gamma, const TF& beta, TF& running_mean,
                             TF& running_var, double momentum, double eps, TF& y, WriteMode y_mode, TF& save_mean,
                             TF& save_invstd);
void batchnorm_forward_eval(Ctx& ctx, const TF& x, const TF& gamma, const TF& beta, const TF& running_mean,
                            const TF& running_var, double eps, TF& y, WriteMode y_mode);
void batchnorm_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& gamma, const TF& save_mean,
                        const TF& save_invstd, TF* dx, WriteMode dx_mode, TF* dgamma, TF* dbeta,
                        WriteMode param_mode);
// a sum of BNs, y = sum_k BN_k(x_k) (ops/batchnorm_sum.hpp): 3 launches each way
void batchnorm_sum_forward_train(Ctx& ctx, const std::vector<BatchNormTerm<float, Cuda>>& terms, double momentum,
                                 double eps, TF& y, WriteMode y_mode);
void batchnorm_sum_backward(Ctx& ctx, const std::vector<BatchNormTerm<float, Cuda>>& terms, const TF& dy,
                            WriteMode param_mode);

// pooling and resizing
void maxpool2_forward(Ctx& ctx, const TF& x, TF& y, Tensor<int32_t, Cuda>& argmax);
void maxpool2_backward(Ctx& ctx, const TF& dy, const Tensor<int32_t, Cuda>& argmax, TF& dx, WriteMode mode);
void upsample_bilinear_forward(Ctx& ctx, const TF& x, TF& y, bool align_corners);
void upsample_bilinear_backward(Ctx& ctx, const TF& dy, TF& dx, bool align_corners, WriteMode mode);
void downsample_target(Ctx& ctx, const TF& mask, TF& out, int factor, TargetMode mode);

// squeeze-and-excitation; se_relu_forward is SE followed by ReLU in one pass (y = max(x a, 0)),
// y may be x itself (in place), mean/hidden/scale saved as se_forward saves them
void se_forward(Ctx& ctx, const TF& x, const TF& w1, const TF& b1, const TF& w2, const TF& b2, TF& y, TF& mean,
                TF& hidden, TF& scale);
void se_relu_forward(Ctx& ctx, const TF& x, const TF& w1, const TF& b1, const TF& w2, const TF& b2, TF& y, TF& mean,
                     TF& hidden, TF& scale);
void se_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& w1, const TF& w2, const TF& mean, const TF& hidden,
                 const TF& scale, TF& dx, WriteMode dx_mode, TF& dw1, TF& db1, TF& dw2, TF& db2,
                 WriteMode param_mode);

// attention (SPEC §2): spatial group-wise enhance, CBAM, polarized self-attention; y may be x
void sge_forward(Ctx& ctx, const TF& x, const TF& weight, const TF& bias, TF& y, TF& mean, TF& norm, TF& stdev);
void sge_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& weight, const TF& bias, const TF& mean,
                  const TF& norm, const TF& stdev, TF& dx, WriteMode dx_mode, TF& dweight, TF& dbias,
                  WriteMode param_mode);
void cbam_forward(Ctx& ctx, const TF& x, const TF& w1, const TF& w2, const TF& ws, const TF& bs, TF& y,
                  CbamSaved<float, Cuda>& saved);
void cbam_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& w1, const TF& w2, const TF& ws,
                   const CbamSaved<float, Cuda>& saved, TF& dx, WriteMode dx_mode, TF& dw1, TF& dw2, TF& dws, TF& dbs,
                   WriteMode param_mode);
void psa_forward(Ctx& ctx, const TF& x, const PsaWeights<float, Cuda>& p, TF& y, PsaSaved<float, Cuda>& saved);
void psa_backward(Ctx& ctx, const TF& x, const TF& dy, const PsaWeights<float, Cuda>& p,
                  const PsaSaved<float, Cuda>& saved, TF& dx, WriteMode dx_mode, const PsaGrads<float, Cuda>& g,
                  WriteMode param_mode);

}  // namespace srmds::cuda

namespace srmds {
struct AdamStep;
}

namespace srmds::cuda {

// Where bce_dice_loss leaves the unweighted loss L, in device memory (one double each, null: not
// written): *value = L; *sum = 0 + sum_weight L, or *sum += sum_weight L with sum_accumulate.
struct LossSink {
  double* value = nullptr;
  double* sum = nullptr;
  double sum_weight = 1;
  bool sum_accumulate = false;
};

// BCE + soft-Dice loss of one scale (ops/math/bce_dice.hpp): one reduction pass (BCE sum and
// the per-sample I, P, Y), one single-block pass forming the per-sample sums and L into `out`, one
// pass writing dz = weight * dL/dz (mode) when dz is not null. No host wait: L stays on the device.
void bce_dice_loss(Ctx& ctx, const TF& z, const TF& y, double weight, double dice_weight, TF* dz, WriteMode mode,
                   const LossSink& out);

// Per-image confusion counts of prediction (z >= 0) against mask (>= 0.5): counts is (N, 4)
// int64 on the device in the order TP, FP, TN, FN.
void confusion_counts(Ctx& ctx, const TF& z, const TF& mask, Tensor<int64_t, Cuda>& counts);

// p, m, v updated in place from g (one elementwise kernel, fp32 moments).
void adam_step(Ctx& ctx, TF& param, const TF& grad, TF& m, TF& v, const AdamStep& step);

// adam_step of many tensors (contiguous), kAdamTensorsPerLaunch per kernel launch.
struct AdamTensors {
  TF* param;
  const TF* grad;
  TF* m;
  TF* v;
};
inline constexpr int kAdamTensorsPerLaunch = 48;
// scalars: null, or kAdamDeviceScalars doubles on the device {lr, bias_correction1,
// bias_correction2} read by the kernel in place of step's (a captured step's per-step values).
void adam_step_all(Ctx& ctx, const std::vector<AdamTensors>& list, const AdamStep& step,
                   const double* scalars = nullptr);

}  // namespace srmds::cuda
