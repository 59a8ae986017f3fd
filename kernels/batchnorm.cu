// BatchNorm2d (PyTorch semantics, see ops/batchnorm.hpp), per-channel statistics over (N, H, W),
// M = N H W:
//   train:    mean_c = S1 / M, var_c = S2 / M - mean_c^2 (biased), invstd = 1 / sqrt(var + eps),
//             S1 = sum x, S2 = sum x^2 accumulated in double; y = gamma (x - mean) invstd + beta;
//             running_mean <- (1 - m) running_mean + m mean, running_var <- (1 - m) running_var + m var M / (M - 1)
//   eval:     y = gamma (x - running_mean) / sqrt(running_var + eps) + beta
//   backward: xhat = (x - mean) invstd, dbeta = sum dy, dgamma = sum dy xhat,
//             dx = gamma invstd (dy - dbeta / M - xhat dgamma / M)
// Each reduction is one partial-sum pass (common.cuh) and a per-channel finalize kernel.
#include <cmath>

#include "common.cuh"

namespace srmds::cuda {
namespace {
using namespace detail;

// ---- forward ---------------------------------------------------------------------------------

struct MomentsTerm {  // row = channel c, outer = sample n, inner = k in the H*W plane
  const float* x;
  int64_t batch_stride, plane;
  __device__ void operator()(int64_t c, int64_t n, int64_t k, double (&acc)[2]) const {
    const double v = x[n * batch_stride + c * plane + k];
    acc[0] += v;
    acc[1] += v * v;
  }
};

__global__ void bn_train_stats_kernel(const double* partials, int64_t splits, int64_t channels, double count,
                                      double momentum, double eps, float* save_mean, float* save_invstd,
                                      float* running_mean, float* running_var) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double mean = total<2>(partials, splits, c, 0) / count;
  double var = total<2>(partials, splits, c, 1) / count - mean * mean;
  if (var < 0.0) var = 0.0;
  save_mean[c] = static_cast<float>(mean);
  save_invstd[c] = static_cast<float>(1.0 / std::sqrt(var + eps));
  running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean);
  running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var * count / (count - 1.0));
}

// y = x * a_c + b_c with per-channel a, b given as (mean, invstd, gamma, beta).
struct NormalizeOp {
  Planes<const float> x;
  Planes<float> y;
  const float *mean, *invstd, *gamma, *beta;
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t k) const {
    const int64_t c = p % x.channels;
    const float v = gamma[c] * (x.plane(p)[k] - mean[c]) * invstd[c] + beta[c];
    write_out(y.plane(p)[k], v, accumulate);
  }
};

__global__ void bn_eval_invstd_kernel(const float* running_var, double eps, int64_t channels, float* invstd) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < channels) invstd[c] = static_cast<float>(1.0 / std::sqrt(double(running_var[c]) + eps));
}

// ---- backward --------------------------------------------------------------------------------

struct GradTerm {  // sums of dy and dy * xhat per channel
  const float *x, *dy;
  int64_t x_stride, dy_stride, plane;
  const float *mean, *invstd;
  __device__ void operator()(int64_t c, int64_t n, int64_t k, double (&acc)[2]) const {
    const float g = dy[n * dy_stride + c * plane + k];
    const float xhat = (x[n * x_stride + c * plane + k] - mean[c]) * invstd[c];
    acc[0] += g;
    acc[1] += double(g) * xhat;
  }
};

__global__ void bn_grad_params_kernel(const double* partials, int64_t splits, int64_t channels, float* sum_dy,
                                      float* sum_dy_xhat, float* dgamma, float* dbeta, bool accumulate) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const float db = static_cast<float>(total<2>(partials, splits, c, 0));
  const float dg = static_cast<float>(total<2>(partials, splits, c, 1));
  sum_dy[c] = db;
  sum_dy_xhat[c] = dg;
  if (dbeta) write_out(dbeta[c], db, accumulate);
  if (dgamma) write_out(dgamma[c], dg, accumulate);
}

struct InputGradOp {
  Planes<const float> x, dy;
  Planes<float> dx;
  const float *gamma, *mean, *invstd, *sum_dy, *sum_dy_xhat;
  float inv_count;
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t k) const {
    const int64_t c = p % x.channels;
    const float xhat = (x.plane(p)[k] - mean[c]) * invstd[c];
    const float g = gamma[c] * invstd[c] * (dy.plane(p)[k] - sum_dy[c] * inv_count - xhat * sum_dy_xhat[c] * inv_count);
    write_out(dx.plane(p)[k], g, accumulate);
  }
};

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace

void batchnorm_forward_train(Ctx& ctx, const TF& x, const TF& gamma, const TF& beta, TF& running_mean,
                             TF& running_var, double momentum, double eps, TF& y, WriteMode y_mode, TF& save_mean,
                             TF& save_invstd) {
  const Shape& s = x.shape();
  const int64_t C = s.c(), plane = s.h() * s.w();
  if (C == 0) return;
  const Partials moments = partial_sums<2>(ctx, C, s.n(), plane, MomentsTerm{x.data(), x.batch_stride(), plane},
                                           "batchnorm_forward_train/moments");
  bn_train_stats_kernel<<<blocks_for(C), kThreads, 0, ctx.stream()>>>(
      moments.data, moments.splits, C, double(s.n() * plane), momentum, eps, save_mean.data(), save_invstd.data(),
      running_mean.data(), running_var.data());
  check_launch("batchnorm_forward_train/stats");
  launch_rows(ctx, s.n() * C, plane,
              NormalizeOp{planes_of(x), planes_of(y), save_mean.data(), save_invstd.data(), gamma.data(),
                          beta.data(), y_mode == WriteMode::Accumulate},
              "batchnorm_forward_train/normalize");
}

void batchnorm_forward_eval(Ctx& ctx, const TF& x, const TF& gamma, const TF& beta, const TF& running_mean,
                            const TF& running_var, double eps, TF& y, WriteMode y_mode) {
  const Shape& s = x.shape();
  const int64_t C = s.c();
  if (C == 0) return;
  Buffer invstd_buf = ctx.allocate(static_cast<size_t>(C) * sizeof(float));
  float* invstd = static_cast<float*>(invstd_buf.get());
  bn_eval_invstd_kernel<<<blocks_for(C), kThreads, 0, ctx.stream()>>>(running_var.data(), eps, C, invstd);
  check_launch("batchnorm_forward_eval/invstd");
  launch_rows(ctx, s.n() * C, s.h() * s.w(),
              NormalizeOp{planes_of(x), planes_of(y), running_mean.data(), invstd, gamma.data(), beta.data(),
                          y_mode == WriteMode::Accumulate},
              "batchnorm_forward_eval/normalize");
}

void batchnorm_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& gamma, const TF& save_mean,
                        const TF& save_invstd, TF* dx, WriteMode dx_mode, TF* dgamma, TF* dbeta,
                        WriteMode param_mode) {
  const Shape& s = x.shape();
  const int64_t C = s.c(), plane = s.h() * s.w();
  if (C == 0 || (!dx && !dgamma && !dbeta)) return;
  const Partials sums = partial_sums<2>(
      ctx, C, s.n(), plane,
      GradTerm{x.data(), dy.data(), x.batch_stride(), dy.batch_stride(), plane, save_mean.data(), save_invstd.data()},
      "batchnorm_backward/sums");
  Buffer sums_buf = ctx.allocate(static_cast<size_t>(2 * C) * sizeof(float));
  float* sum_dy = static_cast<float*>(sums_buf.get());
  float* sum_dy_xhat = sum_dy + C;
  bn_grad_params_kernel<<<blocks_for(C), kThreads, 0, ctx.stream()>>>(
      sums.data, sums.splits, C, sum_dy, sum_dy_xhat, dgamma ? dgamma->data() : nullptr,
      dbeta ? dbeta->data() : nullptr, param_mode == WriteMode::Accumulate);
  check_launch("batchnorm_backward/params");
  if (!dx) return;
  const float inv_count = static_cast<float>(1.0 / double(s.n() * plane));
  launch_rows(ctx, s.n() * C, plane,
              InputGradOp{planes_of(x), planes_of(dy), planes_of(*dx), gamma.data(), save_mean.data(),
                          save_invstd.data(), sum_dy, sum_dy_xhat, inv_count, dx_mode == WriteMode::Accumulate},
              "batchnorm_backward/dx");
}

}  // namespace srmds::cuda
