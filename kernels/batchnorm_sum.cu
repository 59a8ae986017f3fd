// A sum of training-mode BatchNorms, y = sum_k BN_k(x_k) (ops/batchnorm_sum.hpp), as one grouped op:
// the per-BN arithmetic of kernels/batchnorm.cu (statistics from batchnorm_stats.cuh, the input
// gradient from ops/math/batchnorm.hpp), with every term handled by the same launch.
//   forward:  sums      one reduction per channel c of S1_k, S2_k = sum (x_k - K_k), sum (x_k - K_k)^2
//                       for every term k (2 K doubles per row; K_k = term k's running mean);
//             stats     one thread per channel: each term's mean, invstd, saved and running statistics,
//                       affine a_k, b_k;
//             normalize y (written or added) = sum_k (a_k x_k + b_k), in term order.
//   backward: sums      one reduction per channel of sum dy and sum dy xhat_k for every term (dy is read
//                       once for all of them);
//             params    one thread per channel: dbeta_k = sum dy, dgamma_k = sum dy xhat_k, and the
//                       coefficients of dx_k;
//             dx        every wanted dx_k (each with its own write mode) from one read of dy.
// The per-term loops run over kTerms slots unrolled (terms past the count skipped), so each term's
// pointers are kernel parameters indexed by constants: no local memory.
#include <vector>

#include "batchnorm_stats.cuh"
#include "common.cuh"
#include "srmds/ops/math/batchnorm.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

constexpr int kTerms = kMaxBatchNormTerms;
using Terms = std::vector<BatchNormTerm<float, Cuda>>;

// The terms' inputs: element (n, c, i) of term k is x[k][n * stride[k] + c * plane + i].
struct TermInputs {
  const float* x[kTerms];
  int64_t stride[kTerms];
  int count;
  __device__ float at(int k, int64_t n, int64_t c, int64_t plane, int64_t i) const {
    return x[k][n * stride[k] + c * plane + i];
  }
};

TermInputs inputs_of(const Terms& terms) {
  TermInputs in{};
  in.count = static_cast<int>(terms.size());
  for (int k = 0; k < in.count; ++k) {
    in.x[k] = terms[k].x->data();
    in.stride[k] = terms[k].x->batch_stride();
  }
  return in;
}

}  // namespace

// ---- forward -----------------------------------------------------------------------------------
namespace {

constexpr int kForwardSums = 2 * kTerms;  // S1_k, S2_k

struct ShiftedSumsOfTerms {  // row = channel c, outer = sample n, inner = i in the H*W plane
  TermInputs in;
  int64_t plane;
  const float* shift[kTerms];  // (C) each: the running means (bn_shift)
  __device__ void operator()(int64_t c, int64_t n, int64_t i, double (&acc)[kForwardSums]) const {
#pragma unroll
    for (int k = 0; k < kTerms; ++k)
      if (k < in.count) {
        const double d = double(in.at(k, n, c, plane, i)) - bn_shift(shift[k], c);
        acc[2 * k] += d;
        acc[2 * k + 1] += d * d;
      }
  }
};

struct TermsStats {
  BnChannelStats term[kTerms];
  int count;
};

// a, b: (kTerms, C) affine of each term's normalisation.
__global__ void __launch_bounds__(kThreads, 1)
    bn_sum_stats_kernel(const double* partials, int64_t splits, int64_t channels, double count, double momentum,
                        double eps, TermsStats st, float* a, float* b) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
#pragma unroll
  for (int k = 0; k < kTerms; ++k)
    if (k < st.count)
      bn_train_channel(st.term[k], c, total<kForwardSums>(partials, splits, c, 2 * k),
                       total<kForwardSums>(partials, splits, c, 2 * k + 1), count, momentum, eps,
                       a + k * channels + c, b + k * channels + c);
}

void bn_sum_stats_launch(const Partials& sums, int64_t channels, double count, double momentum, double eps,
                         const TermsStats& st, float* a, float* b, cudaStream_t stream) {
  bn_sum_stats_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(sums.data, sums.splits, channels, count,
                                                                      momentum, eps, st, a, b);
  check_launch("batchnorm_sum_forward_train/stats");
}

struct NormalizeSumKernel {  // row = plane p = (n, c), element i
  TermInputs in;
  Planes<float> y;
  const float *a, *b;  // (kTerms, C)
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t i) const {
    const int64_t C = y.channels, n = p / C, c = p % C;
    float v = 0.0f;
#pragma unroll
    for (int k = 0; k < kTerms; ++k)
      if (k < in.count) {
        const float t = a[k * C + c] * in.at(k, n, c, y.plane_size, i) + b[k * C + c];
        v = k == 0 ? t : v + t;
      }
    write_out(y.plane(p)[i], v, accumulate);
  }
};

}  // namespace

void batchnorm_sum_forward_train(Ctx& ctx, const Terms& terms, double momentum, double eps, TF& y, WriteMode y_mode) {
  const Shape& s = y.shape();
  const int64_t C = s.c(), plane = s.h() * s.w();
  if (C == 0) return;
  const int K = static_cast<int>(terms.size());
  const TermInputs in = inputs_of(terms);
  ShiftedSumsOfTerms sums_term{in, plane, {}};
  TermsStats st{};
  st.count = K;
  for (int k = 0; k < K; ++k) {
    const BatchNormTerm<float, Cuda>& t = terms[k];
    sums_term.shift[k] = t.running_mean->data();
    st.term[k] = BnChannelStats{t.gamma->data(),        t.beta->data(),         t.save_mean->data(),
                                t.save_invstd->data(),  t.running_mean->data(), t.running_var->data()};
  }
  Buffer affine = ctx.allocate(static_cast<size_t>(2 * K * C) * sizeof(float));  // a, b: (K, C) each
  float* a = static_cast<float*>(affine.get());
  float* b = a + K * C;
  const Partials sums =
      partial_sums<kForwardSums>(ctx, C, s.n(), plane, sums_term, "batchnorm_sum_forward_train/sums");
  bn_sum_stats_launch(sums, C, double(s.n() * plane), momentum, eps, st, a, b, ctx.stream());
  launch_rows(NormalizeSumKernel{in, planes_of(y), a, b, y_mode == WriteMode::Accumulate}, plane_extent(s),
              ctx.stream(), "batchnorm_sum_forward_train/normalize");
}

// ---- backward ----------------------------------------------------------------------------------
namespace {

constexpr int kBackwardSums = 1 + kTerms;  // sum dy, then sum dy xhat_k per term

struct SavedStats {  // (C) each, saved by the forward
  const float* mean[kTerms];
  const float* invstd[kTerms];
};

struct GradSumsOfTerms {  // row = channel c, outer = sample n, inner = i; in double as the CPU does
  TermInputs in;
  const float* dy;
  int64_t dy_stride, plane;
  SavedStats saved;
  __device__ void operator()(int64_t c, int64_t n, int64_t i, double (&acc)[kBackwardSums]) const {
    const double g = dy[n * dy_stride + c * plane + i];
    acc[0] += g;
#pragma unroll
    for (int k = 0; k < kTerms; ++k)
      if (k < in.count)
        acc[1 + k] += g * (double(in.at(k, n, c, plane, i)) - double(saved.mean[k][c])) * double(saved.invstd[k][c]);
  }
};

struct TermsGrads {
  const float* gamma[kTerms];
  const float* invstd[kTerms];
  float* dgamma[kTerms];  // each may be null
  float* dbeta[kTerms];
  int count;
};

struct InputGradCoefficients {  // gamma_k invstd_k (kTerms, C), mean of dy (C), mean of dy xhat_k (kTerms, C)
  float *k, *mean_dy, *mean_dy_xhat;
};

__global__ void __launch_bounds__(kThreads, 1)
    bn_sum_grad_params_kernel(const double* partials, int64_t splits, int64_t channels, double count, TermsGrads g,
                              InputGradCoefficients coef, bool accumulate) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double sum_dy = total<kBackwardSums>(partials, splits, c, 0);
  coef.mean_dy[c] = static_cast<float>(sum_dy / count);
#pragma unroll
  for (int k = 0; k < kTerms; ++k)
    if (k < g.count) {
      const double sum_dy_xhat = total<kBackwardSums>(partials, splits, c, 1 + k);
      if (g.dbeta[k]) write_out(g.dbeta[k][c], static_cast<float>(sum_dy), accumulate);
      if (g.dgamma[k]) write_out(g.dgamma[k][c], static_cast<float>(sum_dy_xhat), accumulate);
      coef.k[k * channels + c] = static_cast<float>(double(g.gamma[k][c]) * double(g.invstd[k][c]));
      coef.mean_dy_xhat[k * channels + c] = static_cast<float>(sum_dy_xhat / count);
    }
}

void bn_sum_grad_params_launch(const Partials& sums, int64_t channels, double count, const TermsGrads& g,
                               const InputGradCoefficients& coef, bool accumulate, cudaStream_t stream) {
  bn_sum_grad_params_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(sums.data, sums.splits, channels, count,
                                                                            g, coef, accumulate);
  check_launch("batchnorm_sum_backward/params");
}

struct TermOutputs {  // dx_k (n, c, i) at dx[k][n * stride[k] + c * plane + i]; null: not wanted
  float* dx[kTerms];
  int64_t stride[kTerms];
  bool accumulate[kTerms];
};

struct InputGradsKernel {  // row = plane p = (n, c), element i
  TermInputs in;
  Planes<const float> dy;
  TermOutputs out;
  SavedStats saved;
  InputGradCoefficients coef;
  __device__ void operator()(int64_t p, int64_t i) const {
    const int64_t C = dy.channels, plane = dy.plane_size, n = p / C, c = p % C;
    const float g = dy.plane(p)[i];
#pragma unroll
    for (int k = 0; k < kTerms; ++k)
      if (k < in.count && out.dx[k]) {
        const float xhat = (in.at(k, n, c, plane, i) - saved.mean[k][c]) * saved.invstd[k][c];
        write_out(out.dx[k][n * out.stride[k] + c * plane + i],
                  batchnorm_input_grad(g, xhat, coef.k[k * C + c], coef.mean_dy[c], coef.mean_dy_xhat[k * C + c]),
                  out.accumulate[k]);
      }
  }
};

}  // namespace

void batchnorm_sum_backward(Ctx& ctx, const Terms& terms, const TF& dy, WriteMode param_mode) {
  const Shape& s = dy.shape();
  const int64_t C = s.c(), plane = s.h() * s.w();
  const int K = static_cast<int>(terms.size());
  bool any_dx = false, any = false;
  for (const auto& t : terms) {
    any_dx = any_dx || t.dx;
    any = any || t.dx || t.dgamma || t.dbeta;
  }
  if (C == 0 || !any) return;
  const TermInputs in = inputs_of(terms);
  SavedStats saved{};
  TermsGrads grads{};
  TermOutputs out{};
  grads.count = K;
  for (int k = 0; k < K; ++k) {
    const BatchNormTerm<float, Cuda>& t = terms[k];
    saved.mean[k] = t.save_mean->data();
    saved.invstd[k] = t.save_invstd->data();
    grads.gamma[k] = t.gamma->data();
    grads.invstd[k] = t.save_invstd->data();
    grads.dgamma[k] = t.dgamma ? t.dgamma->data() : nullptr;
    grads.dbeta[k] = t.dbeta ? t.dbeta->data() : nullptr;
    out.dx[k] = t.dx ? t.dx->data() : nullptr;
    out.stride[k] = t.dx ? t.dx->batch_stride() : 0;
    out.accumulate[k] = t.dx_mode == WriteMode::Accumulate;
  }
  const Partials sums =
      partial_sums<kBackwardSums>(ctx, C, s.n(), plane, GradSumsOfTerms{in, dy.data(), dy.batch_stride(), plane, saved},
                                  "batchnorm_sum_backward/sums");
  Buffer coef_buf = ctx.allocate(static_cast<size_t>((2 * K + 1) * C) * sizeof(float));
  float* base = static_cast<float*>(coef_buf.get());
  const InputGradCoefficients coef{base, base + K * C, base + (K + 1) * C};
  bn_sum_grad_params_launch(sums, C, double(s.n() * plane), grads, coef, param_mode == WriteMode::Accumulate,
                            ctx.stream());
  if (!any_dx) return;
  launch_rows(InputGradsKernel{in, planes_of(dy), out, saved, coef}, plane_extent(s), ctx.stream(),
              "batchnorm_sum_backward/dx");
}

}  // namespace srmds::cuda
