// BatchNorm2d (PyTorch semantics, see ops/batchnorm.hpp), per-channel statistics over (N, H, W),
// M = N H W, computed like the CPU backend (cpu/batchnorm.hpp):
//   train:    one pass, a deterministic reduction in double of the shifted sums (shift K_c = the
//             running mean before the update, so that the data are near zero once it tracks them):
//               S1 = sum (x - K),  S2 = sum (x - K)^2,  mean_c = K + S1 / M,
//               var_c = max(S2 / M - (S1 / M)^2, 0)   (biased), invstd = 1 / sqrt(var + eps);
//             in double the cancellation of S2 / M - (S1 / M)^2 costs about 1e-16 (1 + d^2 / var)
//             relative, d = mean - K: far below float's rounding unless |d| / std reaches 1e4 (the
//             CPU backend takes two passes; the parity tests hold both to the same reference);
//             running_mean <- (1 - m) running_mean + m mean,
//             running_var  <- (1 - m) running_var + m var M / (M - 1)   (var itself when M == 1)
//   eval:     invstd = 1 / sqrt(running_var + eps) with the running mean
//   both:     y = a_c x + b_c,  a_c = gamma invstd, b_c = beta - mean gamma invstd  (a, b in double,
//             rounded once, as the CPU does)
//   backward: xhat = (x - mean) invstd, dbeta = sum dy, dgamma = sum dy xhat (double),
//             dx = batchnorm_input_grad(dy, xhat, gamma invstd, dbeta / M, dgamma / M)
//             (ops/math/batchnorm.hpp, shared with the CPU backend)
// Each reduction is one partial-sum pass (common.cuh) and a per-channel finalize kernel: a training
// forward is three launches (sums, statistics, normalisation).
#include <cmath>

#include "batchnorm_stats.cuh"
#include "common.cuh"
#include "srmds/ops/math/batchnorm.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

// y = a_c x + b_c (written or added).
struct NormalizeKernel {
  Planes<const float> x;
  Planes<float> y;
  const float *a, *b;  // (C) each
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t k) const {
    const int64_t c = p % x.channels;
    write_out(y.plane(p)[k], a[c] * x.plane(p)[k] + b[c], accumulate);
  }
};

void normalize_launch(Planes<const float> x, Planes<float> y, const float* a, const float* b, bool accumulate,
                      Extent e, cudaStream_t stream, const char* name) {
  launch_rows(NormalizeKernel{x, y, a, b, accumulate}, e, stream, name);
}

}  // namespace

// ---- forward (training) ------------------------------------------------------------------------
namespace {
using namespace detail;

struct ShiftedSumsTerm {  // row = channel c, outer = sample n, inner = k in the H*W plane
  const float* x;
  int64_t batch_stride, plane;
  const float* shift;  // (C): the running mean (bn_shift)
  __device__ void operator()(int64_t c, int64_t n, int64_t k, double (&acc)[2]) const {
    const double d = double(x[n * batch_stride + c * plane + k]) - bn_shift(shift, c);
    acc[0] += d;
    acc[1] += d * d;
  }
};

__global__ void __launch_bounds__(kThreads, 1)
    bn_train_stats_kernel(const double* partials, int64_t splits, int64_t channels, double count, double momentum,
                          double eps, BnChannelStats st, float* a, float* b) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  bn_train_channel(st, c, total<2>(partials, splits, c, 0), total<2>(partials, splits, c, 1), count, momentum, eps,
                   a + c, b + c);
}

void bn_train_stats_launch(const Partials& sums, int64_t channels, double count, double momentum, double eps,
                           const BnChannelStats& st, float* a, float* b, cudaStream_t stream) {
  bn_train_stats_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(sums.data, sums.splits, channels, count,
                                                                        momentum, eps, st, a, b);
  check_launch("batchnorm_forward_train/stats");
}

}  // namespace

void batchnorm_forward_train(Ctx& ctx, const TF& x, const TF& gamma, const TF& beta, TF& running_mean,
                             TF& running_var, double momentum, double eps, TF& y, WriteMode y_mode, TF& save_mean,
                             TF& save_invstd) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t C = s.c(), plane = s.h() * s.w();
  if (C == 0) return;
  const double count = double(s.n() * plane);
  // scratch: a and b (C floats each)
  Buffer scratch = ctx.allocate(static_cast<size_t>(C) * 2 * sizeof(float));
  float* a = static_cast<float*>(scratch.get());
  float* b = a + C;
  const Partials sums =
      partial_sums<2>(ctx, C, s.n(), plane, ShiftedSumsTerm{x.data(), x.batch_stride(), plane, running_mean.data()},
                      "batchnorm_forward_train/sums");
  bn_train_stats_launch(sums, C, count, momentum, eps,
                        BnChannelStats{gamma.data(), beta.data(), save_mean.data(), save_invstd.data(),
                                       running_mean.data(), running_var.data()},
                        a, b, ctx.stream());
  normalize_launch(planes_of(x), planes_of(y), a, b, y_mode == WriteMode::Accumulate, plane_extent(s), ctx.stream(),
                   "batchnorm_forward_train/normalize");
}

// ---- forward (eval) ----------------------------------------------------------------------------
namespace {
using namespace detail;

__global__ void __launch_bounds__(kThreads, 1)
    bn_eval_affine_kernel(const float* gamma, const float* beta, const float* running_mean, const float* running_var,
                          double eps, int64_t channels, float* a, float* b) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < channels)
    affine_of(gamma[c], beta[c], running_mean[c], 1.0 / std::sqrt(double(running_var[c]) + eps), a + c, b + c);
}

void bn_eval_affine_launch(const float* gamma, const float* beta, const float* running_mean, const float* running_var,
                           double eps, int64_t channels, float* a, float* b, cudaStream_t stream) {
  bn_eval_affine_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(gamma, beta, running_mean, running_var, eps,
                                                                        channels, a, b);
  check_launch("batchnorm_forward_eval/affine");
}

}  // namespace

void batchnorm_forward_eval(Ctx& ctx, const TF& x, const TF& gamma, const TF& beta, const TF& running_mean,
                            const TF& running_var, double eps, TF& y, WriteMode y_mode) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t C = s.c();
  if (C == 0) return;
  Buffer affine = ctx.allocate(static_cast<size_t>(2 * C) * sizeof(float));
  float* a = static_cast<float*>(affine.get());
  float* b = a + C;
  bn_eval_affine_launch(gamma.data(), beta.data(), running_mean.data(), running_var.data(), eps, C, a, b,
                        ctx.stream());
  normalize_launch(planes_of(x), planes_of(y), a, b, y_mode == WriteMode::Accumulate, plane_extent(s), ctx.stream(),
                   "batchnorm_forward_eval/normalize");
}

// ---- backward ----------------------------------------------------------------------------------
namespace {
using namespace detail;

struct GradTerm {  // sums of dy and dy * xhat per channel, in double as the CPU does
  const float *x, *dy;
  int64_t x_stride, dy_stride, plane;
  const float *mean, *invstd;
  __device__ void operator()(int64_t c, int64_t n, int64_t k, double (&acc)[2]) const {
    const double g = dy[n * dy_stride + c * plane + k];
    acc[0] += g;
    acc[1] += g * (double(x[n * x_stride + c * plane + k]) - double(mean[c])) * double(invstd[c]);
  }
};

struct InputGradCoefficients {  // (C) each: gamma invstd, mean of dy, mean of dy xhat
  float *k, *mean_dy, *mean_dy_xhat;
};

__global__ void __launch_bounds__(kThreads, 1)
    bn_grad_params_kernel(const double* partials, int64_t splits, int64_t channels, double count, const float* gamma,
                          const float* invstd, InputGradCoefficients coef, float* dgamma, float* dbeta,
                          bool accumulate) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double sum_dy = total<2>(partials, splits, c, 0);
  const double sum_dy_xhat = total<2>(partials, splits, c, 1);
  if (dbeta) write_out(dbeta[c], static_cast<float>(sum_dy), accumulate);
  if (dgamma) write_out(dgamma[c], static_cast<float>(sum_dy_xhat), accumulate);
  coef.k[c] = static_cast<float>(double(gamma[c]) * double(invstd[c]));
  coef.mean_dy[c] = static_cast<float>(sum_dy / count);
  coef.mean_dy_xhat[c] = static_cast<float>(sum_dy_xhat / count);
}

void bn_grad_params_launch(const Partials& sums, int64_t channels, double count, const float* gamma,
                           const float* invstd, const InputGradCoefficients& coef, float* dgamma, float* dbeta,
                           bool accumulate, cudaStream_t stream) {
  bn_grad_params_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(sums.data, sums.splits, channels, count, gamma,
                                                                        invstd, coef, dgamma, dbeta, accumulate);
  check_launch("batchnorm_backward/params");
}

struct InputGradKernel {
  Planes<const float> x, dy;
  Planes<float> dx;
  const float *mean, *invstd;  // (C) saved by the forward
  InputGradCoefficients coef;
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t i) const {
    const int64_t c = p % x.channels;
    const float xhat = (x.plane(p)[i] - mean[c]) * invstd[c];
    write_out(dx.plane(p)[i],
              batchnorm_input_grad(dy.plane(p)[i], xhat, coef.k[c], coef.mean_dy[c], coef.mean_dy_xhat[c]),
              accumulate);
  }
};

void input_grad_launch(const InputGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "batchnorm_backward/dx");
}

}  // namespace

void batchnorm_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& gamma, const TF& save_mean,
                        const TF& save_invstd, TF* dx, WriteMode dx_mode, TF* dgamma, TF* dbeta,
                        WriteMode param_mode) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t C = s.c(), plane = s.h() * s.w();
  if (C == 0 || (!dx && !dgamma && !dbeta)) return;
  const Partials sums = partial_sums<2>(
      ctx, C, s.n(), plane,
      GradTerm{x.data(), dy.data(), x.batch_stride(), dy.batch_stride(), plane, save_mean.data(), save_invstd.data()},
      "batchnorm_backward/sums");
  Buffer coef_buf = ctx.allocate(static_cast<size_t>(3 * C) * sizeof(float));
  float* base = static_cast<float*>(coef_buf.get());
  const InputGradCoefficients coef{base, base + C, base + 2 * C};
  bn_grad_params_launch(sums, C, double(s.n() * plane), gamma.data(), save_invstd.data(), coef,
                        dgamma ? dgamma->data() : nullptr, dbeta ? dbeta->data() : nullptr,
                        param_mode == WriteMode::Accumulate, ctx.stream());
  if (!dx) return;
  input_grad_launch(InputGradKernel{planes_of(x), planes_of(dy), planes_of(*dx), save_mean.data(), save_invstd.data(),
                                    coef, dx_mode == WriteMode::Accumulate},
                    plane_extent(s), ctx.stream());
}

}  // namespace srmds::cuda
