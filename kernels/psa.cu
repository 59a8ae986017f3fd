// Polarized self-attention (see ops/psa.hpp, cpu/psa.hpp for the math; ops/math/psa.hpp for why
// no (N, C/2, H, W) map is formed):
//   forward:  channel logits per pixel (double buffer), softmax over H W (one block per sample),
//             sum_hw x q and mean_hw x per plane (partial sums in double), the per-sample vector
//             algebra (one block per sample, double, outputs spread over the threads), spatial
//             gate per pixel, y = x a + x m
//   backward: ds per pixel, da / du per plane, db0 per sample, the per-sample vector backward,
//             dq per pixel and its softmax backward (one block per sample), sum_hw dql x per
//             plane, the twelve parameter gradients (one thread per parameter, summed over the
//             batch), dx
// Per element the same operations in the same order as src/cpu/psa.cpp (block reductions aside).
#include "common.cuh"
#include "srmds/ops/math/attention.hpp"
#include "srmds/ops/math/psa.hpp"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds::cuda {

// ---- shared by forward and backward ------------------------------------------------------------
namespace {
using namespace detail;

// max(a, b) that propagates NaN, as PyTorch's max and softmax do (fmax drops it).
__device__ __forceinline__ double nan_max(double a, double b) { return a > b || a != a ? a : b; }

// Max of v over a block of kThreads threads (NaN if any is NaN); valid in every thread. Every
// thread of the block must call it.
__device__ double block_max(double v) {
  constexpr int kWarps = kThreads / 32;
  __shared__ double shared[kWarps];
  __shared__ double result;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int offset = 16; offset > 0; offset >>= 1) v = nan_max(v, __shfl_down_sync(0xffffffffu, v, offset));
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double m = lane < kWarps ? shared[lane] : shared[0];
    for (int offset = 16; offset > 0; offset >>= 1) m = nan_max(m, __shfl_down_sync(0xffffffffu, m, offset));
    if (lane == 0) result = m;
  }
  __syncthreads();
  const double out = result;
  __syncthreads();
  return out;
}

// Sum of v over the block; valid in every thread.
__device__ double block_total(double v) {
  __shared__ double result;
  double a[1] = {v};
  block_sum<1>(a);
  if (threadIdx.x == 0) result = a[0];
  __syncthreads();
  const double out = result;
  __syncthreads();
  return out;
}

struct Weights {  // device pointers in PsaSet order
  const float *ch_wv_w, *ch_wv_b, *ch_wq_w, *ch_wq_b, *ch_wz_w, *ch_wz_b, *ch_ln_w, *ch_ln_b, *sp_wv_w, *sp_wv_b,
      *sp_wq_w, *sp_wq_b;
};
Weights weights_of(const PsaWeights<float, Cuda>& p) {
  return {p.ch_wv_weight->data(), p.ch_wv_bias->data(), p.ch_wq_weight->data(), p.ch_wq_bias->data(),
          p.ch_wz_weight->data(), p.ch_wz_bias->data(), p.ch_ln_weight->data(), p.ch_ln_bias->data(),
          p.sp_wv_weight->data(), p.sp_wv_bias->data(), p.sp_wq_weight->data(), p.sp_wq_bias->data()};
}

}  // namespace

// ---- forward -----------------------------------------------------------------------------------
namespace {
using namespace detail;

struct LogitKernel {  // l = bq + sum_c wq_c x_c
  Planes<const float> x;
  const float* wq;
  const float* bq;
  double* logit;
  int64_t hw;
  __device__ void operator()(int64_t n, int64_t i) const {
    double l = bq[0];
    for (int64_t k = 0; k < x.channels; ++k) l += double(wq[k]) * double(x.plane(n * x.channels + k)[i]);
    logit[n * hw + i] = l;
  }
};

// Block n: q = softmax over the hw logits of sample n (all NaN if a logit is NaN, as in PyTorch).
__global__ void __launch_bounds__(kThreads, 1) softmax_kernel(const double* logit, int64_t hw, float* q) {
  const int64_t n = blockIdx.x;
  const double* l = logit + n * hw;
  double m = l[0];
  for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) m = nan_max(m, l[i]);
  m = block_max(m);
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) s += exp(l[i] - m);
  s = block_total(s);
  for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) q[n * hw + i] = static_cast<float>(exp(l[i] - m) / s);
}

struct PoolTerm {  // row = plane: (sum_hw x q, sum_hw x)
  Planes<const float> x;
  const float* q;
  int64_t hw;
  __device__ void operator()(int64_t p, int64_t, int64_t i, double (&acc)[2]) const {
    const double v = x.plane(p)[i];
    acc[0] += v * double(q[(p / x.channels) * hw + i]);
    acc[1] += v;
  }
};

__global__ void __launch_bounds__(kThreads, 1)
    pool_totals_kernel(const double* sums, int64_t splits, int64_t rows, double inv_hw, float* yq, float* mean) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    yq[r] = static_cast<float>(total<2>(sums, splits, r, 0));
    mean[r] = static_cast<float>(total<2>(sums, splits, r, 1) * inv_hw);
  }
}

// Block n: z, LayerNorm, channel gate; sq, u, b0 of sample n. Scratch (double): zd (Ch), wd (C),
// rd (Ch) per sample, and the outputs ud (C) and b0 (1) per sample.
__global__ void __launch_bounds__(kThreads, 1)
    vector_forward_kernel(Weights p, const float* yq, const float* mean, int c, int ch, double* zd, double* wd,
                          double* rd, double* ud, double* b0, float* z, float* ln_norm, float* ln_rstd, float* scale,
                          float* sq, float* u) {
  __shared__ double mu, rstd, rmax, rsum;
  const int64_t n = blockIdx.x;
  double* zn = zd + n * ch;
  double* wn = wd + n * c;
  double* rn = rd + n * ch;
  for (int j = threadIdx.x; j < ch; j += blockDim.x) {
    zn[j] = affine_out<double>(p.ch_wv_w, p.ch_wv_b, yq + n * c, c, j);
    z[n * ch + j] = static_cast<float>(zn[j]);
    rn[j] = affine_out<double>(p.sp_wq_w, p.sp_wq_b, mean + n * c, c, j);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) wn[k] = affine_out<double>(p.ch_wz_w, p.ch_wz_b, zn, ch, k);
  __syncthreads();
  if (threadIdx.x == 0) {
    layer_norm_stats(wn, c, kPsaLnEps, mu, rstd);
    softmax_stats(rn, ch, rmax, rsum);
    ln_rstd[n] = static_cast<float>(rstd);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    const double nk = (wn[k] - mu) * rstd;
    ln_norm[n * c + k] = static_cast<float>(nk);
    scale[n * c + k] = static_cast<float>(sigmoid_of(nk * double(p.ch_ln_w[k]) + double(p.ch_ln_b[k])));
  }
  __syncthreads();  // every thread has read rn[] for the statistics before it is overwritten
  for (int j = threadIdx.x; j < ch; j += blockDim.x) {
    rn[j] = exp(rn[j] - rmax) / rsum;
    sq[n * ch + j] = static_cast<float>(rn[j]);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double beta = 0.0;
    for (int j = 0; j < ch; ++j) beta += rn[j] * double(p.sp_wv_b[j]);
    b0[n] = beta;
  }
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    ud[n * c + k] = transpose_out<double>(p.sp_wv_w, rn, ch, c, k);
    u[n * c + k] = static_cast<float>(ud[n * c + k]);
  }
}

struct GateKernel {  // m = sigmoid(b0 + sum_c u_c x_c)
  Planes<const float> x;
  const double* u;
  const double* b0;
  float* gate;
  int64_t hw;
  __device__ void operator()(int64_t n, int64_t i) const {
    double s = b0[n];
    for (int64_t k = 0; k < x.channels; ++k) s += u[n * x.channels + k] * double(x.plane(n * x.channels + k)[i]);
    gate[n * hw + i] = static_cast<float>(sigmoid_of(s));
  }
};

struct OutputKernel {
  Planes<const float> x;
  Planes<float> y;
  const float* scale;
  const float* gate;
  int64_t hw;
  __device__ void operator()(int64_t p, int64_t i) const {
    const float v = x.plane(p)[i];
    y.plane(p)[i] = v * scale[p] + v * gate[(p / x.channels) * hw + i];
  }
};

void logit_launch(const LogitKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "psa_forward/logits");
}

void softmax_launch(const double* logit, int64_t samples, int64_t hw, float* q, cudaStream_t stream) {
  softmax_kernel<<<static_cast<unsigned>(samples), kThreads, 0, stream>>>(logit, hw, q);
  check_launch("psa_forward/softmax");
}

void pool_totals_launch(const Partials& p, int64_t rows, double inv_hw, float* yq, float* mean, cudaStream_t stream) {
  pool_totals_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(p.data, p.splits, rows, inv_hw, yq, mean);
  check_launch("psa_forward/pool_totals");
}

struct VectorOutputs {
  double *zd, *wd, *rd, *ud, *b0;                 // double scratch
  float *z, *ln_norm, *ln_rstd, *scale, *sq, *u;  // saved
};

void vector_forward_launch(const Weights& p, const float* yq, const float* mean, int c, int ch, const VectorOutputs& o,
                           int64_t samples, cudaStream_t stream) {
  vector_forward_kernel<<<static_cast<unsigned>(samples), kThreads, 0, stream>>>(
      p, yq, mean, c, ch, o.zd, o.wd, o.rd, o.ud, o.b0, o.z, o.ln_norm, o.ln_rstd, o.scale, o.sq, o.u);
  check_launch("psa_forward/vectors");
}

void gate_launch(const GateKernel& k, Extent e, cudaStream_t stream) { launch_rows(k, e, stream, "psa_forward/gate"); }

void output_launch(const OutputKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "psa_forward/output");
}

}  // namespace

void psa_forward(Ctx& ctx, const TF& x, const PsaWeights<float, Cuda>& pw, TF& y, PsaSaved<float, Cuda>& sv) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), Ch = C / 2, hw = s.h() * s.w();
  if (N == 0) return;
  const Weights p = weights_of(pw);
  // double scratch: logits (N hw), zd, rd (N Ch each), wd, ud (N C each), b0 (N)
  Buffer scratch = ctx.allocate(static_cast<size_t>(N * hw + 2 * N * Ch + 2 * N * C + N) * sizeof(double));
  double* logit = static_cast<double*>(scratch.get());
  VectorOutputs o{};
  o.zd = logit + N * hw;
  o.rd = o.zd + N * Ch;
  o.wd = o.rd + N * Ch;
  o.ud = o.wd + N * C;
  o.b0 = o.ud + N * C;
  o.z = sv.z.data();
  o.ln_norm = sv.ln_norm.data();
  o.ln_rstd = sv.ln_rstd.data();
  o.scale = sv.scale.data();
  o.sq = sv.sq.data();
  o.u = sv.u.data();
  const Extent pixels{N, hw};
  logit_launch(LogitKernel{planes_of(x), p.ch_wq_w, p.ch_wq_b, logit, hw}, pixels, ctx.stream());
  softmax_launch(logit, N, hw, sv.q.data(), ctx.stream());
  const Partials pooled =
      partial_sums<2>(ctx, N * C, 1, hw, PoolTerm{planes_of(x), sv.q.data(), hw}, "psa_forward/pool");
  pool_totals_launch(pooled, N * C, 1.0 / double(hw), sv.yq.data(), sv.mean.data(), ctx.stream());
  vector_forward_launch(p, sv.yq.data(), sv.mean.data(), int(C), int(Ch), o, N, ctx.stream());
  gate_launch(GateKernel{planes_of(x), o.ud, o.b0, sv.gate.data(), hw}, pixels, ctx.stream());
  output_launch(OutputKernel{planes_of(x), planes_of(y), sv.scale.data(), sv.gate.data(), hw}, plane_extent(s),
                ctx.stream());
}

// ---- backward ----------------------------------------------------------------------------------
namespace {
using namespace detail;

struct SpatialGradKernel {  // ds = m (1 - m) sum_c dy_c x_c
  Planes<const float> x, dy;
  const float* gate;
  double* ds;
  int64_t hw;
  __device__ void operator()(int64_t n, int64_t i) const {
    double d = 0.0;
    for (int64_t k = 0; k < x.channels; ++k) {
      const int64_t p = n * x.channels + k;
      d += double(dy.plane(p)[i]) * double(x.plane(p)[i]);
    }
    const double m = gate[n * hw + i];
    ds[n * hw + i] = d * (m * (1.0 - m));
  }
};

struct GateGradTerm {  // row = plane: (sum_hw dy x, sum_hw ds x)
  Planes<const float> x, dy;
  const double* ds;
  int64_t hw;
  __device__ void operator()(int64_t p, int64_t, int64_t i, double (&acc)[2]) const {
    const double v = x.plane(p)[i];
    acc[0] += double(dy.plane(p)[i]) * v;
    acc[1] += ds[(p / x.channels) * hw + i] * v;
  }
};

struct RowSumTerm {  // row = sample: sum_hw v
  const double* v;
  int64_t hw;
  __device__ void operator()(int64_t n, int64_t, int64_t i, double (&acc)[1]) const { acc[0] += v[n * hw + i]; }
};

__global__ void __launch_bounds__(kThreads, 1)
    totals2_kernel(const double* sums, int64_t splits, int64_t rows, double* a, double* b) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    a[r] = total<2>(sums, splits, r, 0);
    b[r] = total<2>(sums, splits, r, 1);
  }
}

__global__ void __launch_bounds__(kThreads, 1)
    totals1_kernel(const double* sums, int64_t splits, int64_t rows, double* a) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x)
    a[r] = total<1>(sums, splits, r, 0);
}

struct VectorGrads {                                   // double scratch, per sample
  double *dl, *dn, *dw, *dz, *dyq, *dsq, *dr, *dmean;  // C, C, C, Ch, C, Ch, Ch, C
};

// Block n: the per-sample vector backward (see cpu/psa.hpp).
__global__ void __launch_bounds__(kThreads, 1)
    vector_backward_kernel(Weights p, const double* da, const double* du, const double* db0, const float* scale,
                           const float* ln_norm, const float* ln_rstd, const float* sq, int c, int ch, VectorGrads g) {
  __shared__ double m1, m2, dot;
  const int64_t n = blockIdx.x;
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    const double a = scale[n * c + k];
    const double l = da[n * c + k] * a * (1.0 - a);
    g.dl[n * c + k] = l;
    g.dn[n * c + k] = l * double(p.ch_ln_w[k]);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double s1 = 0.0, s2 = 0.0;
    for (int k = 0; k < c; ++k) {
      s1 += g.dn[n * c + k];
      s2 += g.dn[n * c + k] * double(ln_norm[n * c + k]);
    }
    m1 = s1 / double(c);
    m2 = s2 / double(c);
  }
  __syncthreads();
  const double rstd = ln_rstd[n];
  const float* no_bias = nullptr;
  for (int k = threadIdx.x; k < c; k += blockDim.x)
    g.dw[n * c + k] = layer_norm_input_grad(g.dn[n * c + k], double(ln_norm[n * c + k]), m1, m2, rstd);
  for (int j = threadIdx.x; j < ch; j += blockDim.x)
    g.dsq[n * ch + j] = affine_out<double>(p.sp_wv_w, no_bias, du + n * c, c, j) + double(p.sp_wv_b[j]) * db0[n];
  __syncthreads();
  for (int j = threadIdx.x; j < ch; j += blockDim.x)
    g.dz[n * ch + j] = transpose_out<double>(p.ch_wz_w, g.dw + n * c, c, ch, j);
  if (threadIdx.x == 0) {
    double s = 0.0;
    for (int j = 0; j < ch; ++j) s += double(sq[n * ch + j]) * g.dsq[n * ch + j];
    dot = s;
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x)
    g.dyq[n * c + k] = transpose_out<double>(p.ch_wv_w, g.dz + n * ch, ch, c, k);
  for (int j = threadIdx.x; j < ch; j += blockDim.x)
    g.dr[n * ch + j] = double(sq[n * ch + j]) * (g.dsq[n * ch + j] - dot);
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x)
    g.dmean[n * c + k] = transpose_out<double>(p.sp_wq_w, g.dr + n * ch, ch, c, k);
}

struct QueryGradKernel {  // dq = sum_c dyq_c x_c
  Planes<const float> x;
  const double* dyq;
  double* dq;
  int64_t hw;
  __device__ void operator()(int64_t n, int64_t i) const {
    double d = 0.0;
    for (int64_t k = 0; k < x.channels; ++k) d += dyq[n * x.channels + k] * double(x.plane(n * x.channels + k)[i]);
    dq[n * hw + i] = d;
  }
};

// Block n: dql = q (dq - q . dq) in place, and dbq[n] = sum_hw dql.
__global__ void __launch_bounds__(kThreads, 1)
    softmax_backward_kernel(const float* q, int64_t hw, double* dq, double* dbq) {
  const int64_t n = blockIdx.x;
  double* d = dq + n * hw;
  const float* qn = q + n * hw;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) s += double(qn[i]) * d[i];
  const double dot = block_total(s);
  double t = 0.0;
  for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) {
    d[i] = double(qn[i]) * (d[i] - dot);
    t += d[i];
  }
  t = block_total(t);
  if (threadIdx.x == 0) dbq[n] = t;
}

struct QueryWeightTerm {  // row = plane: sum_hw dql x
  Planes<const float> x;
  const double* dql;
  int64_t hw;
  __device__ void operator()(int64_t p, int64_t, int64_t i, double (&acc)[1]) const {
    acc[0] += dql[(p / x.channels) * hw + i] * double(x.plane(p)[i]);
  }
};

struct Grads {  // device pointers in PsaSet order
  float *ch_wv_w, *ch_wv_b, *ch_wq_w, *ch_wq_b, *ch_wz_w, *ch_wz_b, *ch_ln_w, *ch_ln_b, *sp_wv_w, *sp_wv_b, *sp_wq_w,
      *sp_wq_b;
};

struct ParamSources {
  VectorGrads g;
  const double *du, *db0, *gq, *dbq;
  const float *yq, *z, *ln_norm, *sq, *mean;
};

// Elements of parameter tensor `seg` (PsaSet order) for C = c, C / 2 = ch: a switch, not an array
// indexed at run time (which would live in local memory).
__host__ __device__ __forceinline__ int64_t psa_param_size(int seg, int64_t c, int64_t ch) {
  switch (seg) {
    case 0: case 4: case 8: case 10: return c * ch;  // ch_wv, ch_wz, sp_wv, sp_wq weights
    case 1: case 9: case 11: return ch;              // ch_wv, sp_wv, sp_wq biases
    case 3: return 1;                                // ch_wq.bias
    default: return c;                               // ch_wq.weight, ch_wz.bias, ch_ln weight and bias
  }
}
__host__ __device__ __forceinline__ int64_t psa_param_count(int64_t c, int64_t ch) {
  return 4 * c * ch + 3 * ch + 4 * c + 1;
}

// One thread per parameter, the twelve tensors one after another in PsaSet order.
__global__ void __launch_bounds__(kThreads, 1)
    psa_param_kernel(ParamSources s, Grads out, int64_t batch, int c, int ch, bool accumulate) {
  const int64_t total_params = psa_param_count(c, ch);
  const double* none = nullptr;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total_params;
       t += int64_t(gridDim.x) * blockDim.x) {
    int seg = 0;
    int64_t i = t;
    while (i >= psa_param_size(seg, c, ch)) i -= psa_param_size(seg++, c, ch);
    double v = 0.0;
    float* dst = nullptr;
    switch (seg) {
      case 0:
        v = batch_outer<double>(s.g.dz, s.yq, batch, ch, c, int(i / c), int(i % c));
        dst = out.ch_wv_w;
        break;
      case 1:
        v = batch_outer<double>(s.g.dz, none, batch, ch, 1, int(i), 0);
        dst = out.ch_wv_b;
        break;
      case 2:
        v = batch_outer<double>(s.gq, none, batch, c, 1, int(i), 0);
        dst = out.ch_wq_w;
        break;
      case 3:
        v = batch_outer<double>(s.dbq, none, batch, 1, 1, 0, 0);
        dst = out.ch_wq_b;
        break;
      case 4:
        v = batch_outer<double>(s.g.dw, s.z, batch, c, ch, int(i / ch), int(i % ch));
        dst = out.ch_wz_w;
        break;
      case 5:
        v = batch_outer<double>(s.g.dw, none, batch, c, 1, int(i), 0);
        dst = out.ch_wz_b;
        break;
      case 6:
        v = batch_outer<double>(s.g.dl, s.ln_norm, batch, c, c, int(i), int(i));
        dst = out.ch_ln_w;
        break;
      case 7:
        v = batch_outer<double>(s.g.dl, none, batch, c, 1, int(i), 0);
        dst = out.ch_ln_b;
        break;
      case 8:
        v = batch_outer<double>(s.sq, s.du, batch, ch, c, int(i / c), int(i % c));
        dst = out.sp_wv_w;
        break;
      case 9:
        v = batch_outer<double>(s.sq, s.db0, batch, ch, 1, int(i), 0);
        dst = out.sp_wv_b;
        break;
      case 10:
        v = batch_outer<double>(s.g.dr, s.mean, batch, ch, c, int(i / c), int(i % c));
        dst = out.sp_wq_w;
        break;
      default:
        v = batch_outer<double>(s.g.dr, none, batch, ch, 1, int(i), 0);
        dst = out.sp_wq_b;
        break;
    }
    write_out(dst[i], static_cast<float>(v), accumulate);
  }
}

struct InputGradKernel {
  Planes<const float> dy;
  Planes<float> dx;
  const float* scale;
  const float* gate;
  const float* q;
  const float* u;
  const float* wq;
  const double* ds;
  const double* dmean;
  const double* dyq;
  const double* dql;
  int64_t hw;
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t i) const {
    const int64_t n = p / dy.channels, k = p % dy.channels, pix = n * hw + i;
    const double v = double(dy.plane(p)[i]) * (double(scale[p]) + double(gate[pix])) + ds[pix] * double(u[p]) +
                     dmean[p] / double(hw) + dyq[p] * double(q[pix]) + dql[pix] * double(wq[k]);
    write_out(dx.plane(p)[i], static_cast<float>(v), accumulate);
  }
};

void spatial_grad_launch(const SpatialGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "psa_backward/ds");
}

void totals2_launch(const Partials& p, int64_t rows, double* a, double* b, cudaStream_t stream, const char* name) {
  totals2_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(p.data, p.splits, rows, a, b);
  check_launch(name);
}

void totals1_launch(const Partials& p, int64_t rows, double* a, cudaStream_t stream, const char* name) {
  totals1_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(p.data, p.splits, rows, a);
  check_launch(name);
}

struct VectorInputs {
  const double *da, *du, *db0;
  const float *scale, *ln_norm, *ln_rstd, *sq;
};

void vector_backward_launch(const Weights& p, const VectorInputs& in, int c, int ch, const VectorGrads& g,
                            int64_t samples, cudaStream_t stream) {
  vector_backward_kernel<<<static_cast<unsigned>(samples), kThreads, 0, stream>>>(
      p, in.da, in.du, in.db0, in.scale, in.ln_norm, in.ln_rstd, in.sq, c, ch, g);
  check_launch("psa_backward/vectors");
}

void query_grad_launch(const QueryGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "psa_backward/dq");
}

void softmax_backward_launch(const float* q, int64_t samples, int64_t hw, double* dq, double* dbq,
                             cudaStream_t stream) {
  softmax_backward_kernel<<<static_cast<unsigned>(samples), kThreads, 0, stream>>>(q, hw, dq, dbq);
  check_launch("psa_backward/softmax");
}

void psa_param_launch(const ParamSources& src, const Grads& out, int64_t batch, int c, int ch, bool accumulate,
                      cudaStream_t stream) {
  const int64_t params = psa_param_count(c, ch);
  psa_param_kernel<<<item_blocks(params), kThreads, 0, stream>>>(
      src, out, batch, c, ch, accumulate);
  check_launch("psa_backward/params");
}

void input_grad_launch(const InputGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "psa_backward/dx");
}

}  // namespace

void psa_backward(Ctx& ctx, const TF& x, const TF& dy, const PsaWeights<float, Cuda>& pw,
                  const PsaSaved<float, Cuda>& sv, TF& dx, WriteMode dx_mode, const PsaGrads<float, Cuda>& pg,
                  WriteMode param_mode) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), Ch = C / 2, hw = s.h() * s.w();
  const bool acc_params = param_mode == WriteMode::Accumulate;
  if (N == 0) {  // no samples: the parameter gradients are zero
    if (!acc_params)
      for (TF* t : pg.items()) fill(ctx, *t, 0.0f);
    return;
  }
  const Weights p = weights_of(pw);
  // double scratch: ds, dq (N hw each); da, du, dl, dn, dw, dyq, dmean, gq (N C each); dz, dsq, dr (N Ch each);
  // db0, dbq (N each)
  Buffer scratch = ctx.allocate(static_cast<size_t>(2 * N * hw + 8 * N * C + 3 * N * Ch + 2 * N) * sizeof(double));
  double* ds = static_cast<double*>(scratch.get());
  double* dq = ds + N * hw;
  double* da = dq + N * hw;
  double* du = da + N * C;
  VectorGrads g;
  g.dl = du + N * C;
  g.dn = g.dl + N * C;
  g.dw = g.dn + N * C;
  g.dyq = g.dw + N * C;
  g.dmean = g.dyq + N * C;
  double* gq = g.dmean + N * C;
  g.dz = gq + N * C;
  g.dsq = g.dz + N * Ch;
  g.dr = g.dsq + N * Ch;
  double* db0 = g.dr + N * Ch;
  double* dbq = db0 + N;

  const Extent pixels{N, hw};
  spatial_grad_launch(SpatialGradKernel{planes_of(x), planes_of(dy), sv.gate.data(), ds, hw}, pixels, ctx.stream());
  const Partials gate_sums =
      partial_sums<2>(ctx, N * C, 1, hw, GateGradTerm{planes_of(x), planes_of(dy), ds, hw}, "psa_backward/gate_grads");
  totals2_launch(gate_sums, N * C, da, du, ctx.stream(), "psa_backward/gate_totals");
  const Partials ds_sums = partial_sums<1>(ctx, N, 1, hw, RowSumTerm{ds, hw}, "psa_backward/db0");
  totals1_launch(ds_sums, N, db0, ctx.stream(), "psa_backward/db0_totals");
  vector_backward_launch(p,
                         VectorInputs{da, du, db0, sv.scale.data(), sv.ln_norm.data(), sv.ln_rstd.data(), sv.sq.data()},
                         int(C), int(Ch), g, N, ctx.stream());
  query_grad_launch(QueryGradKernel{planes_of(x), g.dyq, dq, hw}, pixels, ctx.stream());
  softmax_backward_launch(sv.q.data(), N, hw, dq, dbq, ctx.stream());
  const Partials q_sums =
      partial_sums<1>(ctx, N * C, 1, hw, QueryWeightTerm{planes_of(x), dq, hw}, "psa_backward/query_weight");
  totals1_launch(q_sums, N * C, gq, ctx.stream(), "psa_backward/query_totals");
  const ParamSources src{
      g, du, db0, gq, dbq, sv.yq.data(), sv.z.data(), sv.ln_norm.data(), sv.sq.data(), sv.mean.data()};
  const Grads out{pg.ch_wv_weight->data(), pg.ch_wv_bias->data(), pg.ch_wq_weight->data(), pg.ch_wq_bias->data(),
                  pg.ch_wz_weight->data(), pg.ch_wz_bias->data(), pg.ch_ln_weight->data(), pg.ch_ln_bias->data(),
                  pg.sp_wv_weight->data(), pg.sp_wv_bias->data(), pg.sp_wq_weight->data(), pg.sp_wq_bias->data()};
  psa_param_launch(src, out, N, int(C), int(Ch), acc_params, ctx.stream());
  input_grad_launch(
      InputGradKernel{planes_of(dy), planes_of(dx), sv.scale.data(), sv.gate.data(), sv.q.data(), sv.u.data(),
                      p.ch_wq_w, ds, g.dmean, g.dyq, dq, hw, dx_mode == WriteMode::Accumulate},
      plane_extent(s), ctx.stream());
}

}  // namespace srmds::cuda
