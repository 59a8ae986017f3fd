// CBAM (see ops/cbam.hpp, cpu/cbam.hpp for the math, ops/math/cbam.hpp for the 7x7 taps):
//   forward:  avg (plane sums in double), max and its first index (one block per plane)
//             channel MLP per sample (one block per sample, double): hidden vectors and gate a
//             pooled map [mean_c x a, max_c x a] and channel argmax per pixel
//             spatial gate m = sigmoid(conv7x7 + b) per pixel (direct taps), y = (x a) m
//   backward: dl per pixel (double buffer), the 98 taps' and the bias gradient as partial sums
//             over (n, pixel), dP per pixel (transposed taps), da per plane, the MLP backward per
//             sample, fc1 / fc2 gradients (one thread per parameter, summed over the batch), dx
// Per element the same operations in the same order as src/cpu/cbam.cpp.
#include "common.cuh"
#include "srmds/ops/math/attention.hpp"
#include "srmds/ops/math/cbam.hpp"
#include "srmds/ops/math/scalar.hpp"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds::cuda {

// ---- forward -----------------------------------------------------------------------------------
namespace {
using namespace detail;

struct PlaneSumTerm {
  Planes<const float> x;
  __device__ void operator()(int64_t p, int64_t, int64_t k, double (&acc)[1]) const { acc[0] += x.plane(p)[k]; }
};

__global__ void __launch_bounds__(kThreads, 1)
    plane_mean_kernel(const double* sums, int64_t splits, int64_t rows, double inv_hw, float* mean) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x)
    mean[r] = static_cast<float>(total<1>(sums, splits, r, 0) * inv_hw);
}

void plane_mean_launch(const Partials& p, int64_t rows, double inv_hw, float* mean, cudaStream_t stream) {
  plane_mean_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(p.data, p.splits, rows, inv_hw, mean);
  check_launch("cbam_forward/avg");
}

// (v, i) beats (bv, bi) when larger, or equal with a smaller index: the first maximum wins.
__device__ __forceinline__ bool better(float v, int64_t i, float bv, int64_t bi) {
  return v > bv || (v == bv && i < bi);
}

// Block p: max over plane p and its first index (a tree over the block's kThreads threads, which
// halves a power of two).
static_assert((kThreads & (kThreads - 1)) == 0, "plane_max_kernel: kThreads must be a power of two");
__global__ void __launch_bounds__(kThreads, 1)
    plane_max_kernel(Planes<const float> x, int64_t planes, int64_t hw, float* out, int32_t* index) {
  __shared__ float sv[kThreads];
  __shared__ int64_t si[kThreads];
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {
    const float* a = x.plane(p);
    float bv = a[0];
    int64_t bi = 0;
    for (int64_t i = threadIdx.x; i < hw; i += kThreads)
      if (better(a[i], i, bv, bi)) {
        bv = a[i];
        bi = i;
      }
    sv[threadIdx.x] = bv;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s && better(sv[threadIdx.x + s], si[threadIdx.x + s], sv[threadIdx.x], si[threadIdx.x])) {
        sv[threadIdx.x] = sv[threadIdx.x + s];
        si[threadIdx.x] = si[threadIdx.x + s];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      out[p] = sv[0];
      index[p] = static_cast<int32_t>(si[0]);
    }
    __syncthreads();
  }
}

void plane_max_launch(Planes<const float> x, int64_t planes, int64_t hw, float* out, int32_t* index,
                      cudaStream_t stream) {
  plane_max_kernel<<<block_per_item(planes), kThreads, 0, stream>>>(x, planes, hw, out, index);
  check_launch("cbam_forward/max");
}

struct MlpArgs {
  const float *avg, *max;          // (N, C)
  const float *w1, *w2;            // (h, C), (C, h)
  double *ha, *hm;                 // (N, h) scratch
  float *hidden_avg, *hidden_max;  // (N, h)
  float* scale;                    // (N, C)
  int c, hd;
};

// Block n: hidden vectors (float saved, double scratch) and the channel gate of sample n.
__global__ void __launch_bounds__(kThreads, 1) channel_mlp_kernel(MlpArgs a) {
  const int64_t n = blockIdx.x;
  const int c = a.c, hd = a.hd;
  const float* no_bias = nullptr;
  for (int j = threadIdx.x; j < hd; j += blockDim.x) {
    const double u = math::relu(affine_out<double>(a.w1, no_bias, a.avg + n * c, c, j));
    const double v = math::relu(affine_out<double>(a.w1, no_bias, a.max + n * c, c, j));
    a.ha[n * hd + j] = u;
    a.hm[n * hd + j] = v;
    a.hidden_avg[n * hd + j] = static_cast<float>(u);
    a.hidden_max[n * hd + j] = static_cast<float>(v);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    const double za = affine_out<double>(a.w2, no_bias, a.ha + n * hd, hd, k);
    const double zm = affine_out<double>(a.w2, no_bias, a.hm + n * hd, hd, k);
    a.scale[n * c + k] = static_cast<float>(sigmoid_of(za + zm));
  }
}

void channel_mlp_launch(const MlpArgs& a, int64_t samples, cudaStream_t stream) {
  channel_mlp_kernel<<<static_cast<unsigned>(samples), kThreads, 0, stream>>>(a);
  check_launch("cbam_forward/mlp");
}

struct PoolKernel {  // row n, pixel i: mean and max over channels of x a
  Planes<const float> x;
  const float* scale;  // (N, C)
  float* pooled;       // (N, 2, H, W)
  int32_t* index;      // (N, 1, H, W)
  int64_t hw;
  __device__ void operator()(int64_t n, int64_t i) const {
    const int64_t c = x.channels;
    double sum = 0.0;
    float best = 0.0f;
    int32_t arg = 0;
    for (int64_t k = 0; k < c; ++k) {
      const float v = x.plane(n * c + k)[i] * scale[n * c + k];
      sum += double(v);
      if (k == 0 || v > best) {
        best = v;
        arg = static_cast<int32_t>(k);
      }
    }
    pooled[n * 2 * hw + i] = static_cast<float>(sum / double(c));
    pooled[n * 2 * hw + hw + i] = best;
    index[n * hw + i] = arg;
  }
};

void pool_launch(const PoolKernel& k, Extent e, cudaStream_t stream) { launch_rows(k, e, stream, "cbam_forward/pool"); }

struct GateKernel {
  const float* pooled;
  const float* ws;
  const float* bs;
  float* gate;
  int h, w;
  __device__ void operator()(int64_t n, int64_t i) const {
    const int64_t hw = int64_t(h) * w;
    const double z = cbam_spatial_logit<double>(pooled + n * 2 * hw, h, w, int(i / w), int(i % w), ws, bs[0]);
    gate[n * hw + i] = static_cast<float>(sigmoid_of(z));
  }
};

void gate_launch(const GateKernel& k, Extent e, cudaStream_t stream) { launch_rows(k, e, stream, "cbam_forward/gate"); }

struct OutputKernel {  // y = (x a) m; y may be x (each element read, then written, by one thread)
  Planes<const float> x;
  Planes<float> y;
  const float* scale;
  const float* gate;
  int64_t hw;
  __device__ void operator()(int64_t p, int64_t i) const {
    const int64_t n = p / x.channels;
    y.plane(p)[i] = (x.plane(p)[i] * scale[p]) * gate[n * hw + i];
  }
};

void output_launch(const OutputKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "cbam_forward/output");
}

}  // namespace

void cbam_forward(Ctx& ctx, const TF& x, const TF& w1, const TF& w2, const TF& ws, const TF& bs, TF& y,
                  CbamSaved<float, Cuda>& sv) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), hd = w1.shape()[0];
  if (N == 0) return;
  const Partials sums = partial_sums<1>(ctx, N * C, 1, hw, PlaneSumTerm{planes_of(x)}, "cbam_forward/sums");
  plane_mean_launch(sums, N * C, 1.0 / double(hw), sv.avg.data(), ctx.stream());
  plane_max_launch(planes_of(x), N * C, hw, sv.max.data(), sv.max_index.data(), ctx.stream());
  Buffer scratch = ctx.allocate(static_cast<size_t>(2 * N * hd) * sizeof(double));
  double* ha = static_cast<double*>(scratch.get());
  channel_mlp_launch(MlpArgs{sv.avg.data(), sv.max.data(), w1.data(), w2.data(), ha, ha + N * hd, sv.hidden_avg.data(),
                             sv.hidden_max.data(), sv.scale.data(), int(C), int(hd)},
                     N, ctx.stream());
  const Extent pixels{N, hw};
  pool_launch(PoolKernel{planes_of(x), sv.scale.data(), sv.pooled.data(), sv.pooled_index.data(), hw}, pixels,
              ctx.stream());
  gate_launch(GateKernel{sv.pooled.data(), ws.data(), bs.data(), sv.gate.data(), int(s.h()), int(s.w())}, pixels,
              ctx.stream());
  output_launch(OutputKernel{planes_of(x), planes_of(y), sv.scale.data(), sv.gate.data(), hw}, plane_extent(s),
                ctx.stream());
}

// ---- backward ----------------------------------------------------------------------------------
namespace {
using namespace detail;

struct LogitGradKernel {  // dl = m (1 - m) sum_c dy_c (x_c a_c)
  Planes<const float> x, dy;
  const float* scale;
  const float* gate;
  double* dl;
  int64_t hw;
  __device__ void operator()(int64_t n, int64_t i) const {
    const int64_t c = x.channels;
    double d = 0.0;
    for (int64_t k = 0; k < c; ++k) {
      const int64_t p = n * c + k;
      d += double(dy.plane(p)[i]) * double(x.plane(p)[i] * scale[p]);
    }
    const double m = gate[n * hw + i];
    dl[n * hw + i] = d * (m * (1.0 - m));
  }
};

void logit_grad_launch(const LogitGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "cbam_backward/logit");
}

struct SpatialParamTerm {  // row = tap (98 of them) or the bias (row 98); outer = sample, inner = pixel
  const double* dl;
  const float* pooled;
  int h, w;
  __device__ void operator()(int64_t r, int64_t n, int64_t i, double (&acc)[1]) const {
    const int64_t hw = int64_t(h) * w;
    if (r == kCbamTaps)
      acc[0] += dl[n * hw + i];
    else
      acc[0] +=
          cbam_spatial_weight_term<double>(dl + n * hw, pooled + n * 2 * hw, h, w, int(r), int(i / w), int(i % w));
  }
};

constexpr int kSpatialParamThreads = 128;  // one block, a thread per tap (98) and the bias

__global__ void __launch_bounds__(kSpatialParamThreads, 1)
    spatial_param_kernel(const double* sums, int64_t splits, float* dws, float* dbs, bool accumulate) {
  for (int t = blockIdx.x * blockDim.x + threadIdx.x; t <= kCbamTaps; t += gridDim.x * blockDim.x) {
    const float g = static_cast<float>(total<1>(sums, splits, t, 0));
    if (t < kCbamTaps)
      write_out(dws[t], g, accumulate);
    else
      write_out(dbs[0], g, accumulate);
  }
}

void spatial_param_launch(const Partials& p, float* dws, float* dbs, bool accumulate, cudaStream_t stream) {
  spatial_param_kernel<<<1, kSpatialParamThreads, 0, stream>>>(p.data, p.splits, dws, dbs, accumulate);
  check_launch("cbam_backward/spatial_params");
}

struct PooledGradKernel {  // row (n, k), pixel i
  const double* dl;
  const float* ws;
  double* dp;  // (N, 2, H, W)
  int h, w;
  __device__ void operator()(int64_t r, int64_t i) const {
    const int64_t hw = int64_t(h) * w, n = r / 2;
    dp[r * hw + i] = cbam_spatial_input_grad<double>(dl + n * hw, h, w, int(r % 2), int(i / w), int(i % w), ws);
  }
};

void pooled_grad_launch(const PooledGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "cbam_backward/pooled");
}

// dy' = dy m + dP_0 / C + [c = argmax_c] dP_1 at plane p, pixel i
struct ScaledGrad {
  Planes<const float> dy;
  const float* gate;
  const double* dp;
  const int32_t* pidx;
  int64_t hw;
  double inv_c;
  __device__ double at(int64_t p, int64_t i) const {
    const int64_t n = p / dy.channels, k = p % dy.channels;
    const double* d0 = dp + n * 2 * hw;
    double v = double(dy.plane(p)[i]) * double(gate[n * hw + i]) + d0[i] * inv_c;
    if (pidx[n * hw + i] == k) v += d0[hw + i];
    return v;
  }
};

struct ScaleGradTerm {  // row = plane: sum_hw dy' x
  ScaledGrad g;
  Planes<const float> x;
  __device__ void operator()(int64_t p, int64_t, int64_t i, double (&acc)[1]) const {
    acc[0] += g.at(p, i) * double(x.plane(p)[i]);
  }
};

__global__ void __launch_bounds__(kThreads, 1)
    row_total_kernel(const double* sums, int64_t splits, int64_t rows, double* out) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x)
    out[r] = total<1>(sums, splits, r, 0);
}

void row_total_launch(const Partials& p, int64_t rows, double* out, cudaStream_t stream) {
  row_total_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(p.data, p.splits, rows, out);
  check_launch("cbam_backward/scale_grad");
}

struct MlpGrads {                // double scratch
  double *da, *dz, *davg, *dmx;  // (N, C)
  double *dha, *dhm;             // (N, h)
};

// Block n: dz (C), dha, dhm (hd), davg, dmax (C) of sample n.
__global__ void __launch_bounds__(kThreads, 1)
    channel_mlp_backward_kernel(MlpGrads g, const float* scale, const float* hidden_avg, const float* hidden_max,
                                const float* w1, const float* w2, int c, int hd) {
  const int64_t n = blockIdx.x;
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    const double a = scale[n * c + k];
    g.dz[n * c + k] = g.da[n * c + k] * a * (1.0 - a);
  }
  __syncthreads();
  for (int j = threadIdx.x; j < hd; j += blockDim.x) {
    const double t = transpose_out<double>(w2, g.dz + n * c, c, hd, j);
    g.dha[n * hd + j] = hidden_avg[n * hd + j] > 0.0f ? t : 0.0;
    g.dhm[n * hd + j] = hidden_max[n * hd + j] > 0.0f ? t : 0.0;
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    g.davg[n * c + k] = transpose_out<double>(w1, g.dha + n * hd, hd, c, k);
    g.dmx[n * c + k] = transpose_out<double>(w1, g.dhm + n * hd, hd, c, k);
  }
}

void channel_mlp_backward_launch(const MlpGrads& g, int64_t samples, const float* scale, const float* hidden_avg,
                                 const float* hidden_max, const float* w1, const float* w2, int c, int hd,
                                 cudaStream_t stream) {
  channel_mlp_backward_kernel<<<static_cast<unsigned>(samples), kThreads, 0, stream>>>(g, scale, hidden_avg, hidden_max,
                                                                                       w1, w2, c, hd);
  check_launch("cbam_backward/mlp");
}

struct MlpParamArgs {
  const float *hidden_avg, *hidden_max, *avg, *max;
  float *dw1, *dw2;
  int64_t batch;
  int c, hd;
  bool accumulate;
};

// One thread per parameter of fc2.weight (C * hd), then fc1.weight (hd * C).
__global__ void __launch_bounds__(kThreads, 1) mlp_param_kernel(MlpGrads g, MlpParamArgs a) {
  const int64_t per = int64_t(a.c) * a.hd;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < 2 * per; t += int64_t(gridDim.x) * blockDim.x) {
    if (t < per) {
      const int k = int(t / a.hd), j = int(t % a.hd);
      const double v = batch_outer<double>(g.dz, a.hidden_avg, a.batch, a.c, a.hd, k, j) +
                       batch_outer<double>(g.dz, a.hidden_max, a.batch, a.c, a.hd, k, j);
      write_out(a.dw2[t], static_cast<float>(v), a.accumulate);
    } else {
      const int64_t i = t - per;
      const int j = int(i / a.c), k = int(i % a.c);
      const double v = batch_outer<double>(g.dha, a.avg, a.batch, a.hd, a.c, j, k) +
                       batch_outer<double>(g.dhm, a.max, a.batch, a.hd, a.c, j, k);
      write_out(a.dw1[i], static_cast<float>(v), a.accumulate);
    }
  }
}

void mlp_param_launch(const MlpGrads& g, const MlpParamArgs& a, cudaStream_t stream) {
  const int64_t params = 2 * int64_t(a.c) * a.hd;
  mlp_param_kernel<<<item_blocks(params), kThreads, 0, stream>>>(g, a);
  check_launch("cbam_backward/mlp_params");
}

struct InputGradKernel {
  ScaledGrad g;
  Planes<float> dx;
  const float* scale;
  const double* davg;
  const double* dmx;
  const int32_t* max_index;
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t i) const {
    double v = g.at(p, i) * double(scale[p]) + davg[p] / double(g.hw);
    if (i == max_index[p]) v += dmx[p];
    write_out(dx.plane(p)[i], static_cast<float>(v), accumulate);
  }
};

void input_grad_launch(const InputGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "cbam_backward/dx");
}

}  // namespace

void cbam_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& w1, const TF& w2, const TF& ws,
                   const CbamSaved<float, Cuda>& sv, TF& dx, WriteMode dx_mode, TF& dw1, TF& dw2, TF& dws, TF& dbs,
                   WriteMode param_mode) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), hd = w1.shape()[0];
  const int h = int(s.h()), w = int(s.w());
  const bool acc_params = param_mode == WriteMode::Accumulate;
  if (N == 0) {  // no samples: the parameter gradients are zero
    if (!acc_params)
      for (TF* t : {&dws, &dbs, &dw1, &dw2}) fill(ctx, *t, 0.0f);
    return;
  }
  // double scratch: dl (N hw), dP (2 N hw), da, dz, davg, dmx (N C each), dha, dhm (N hd each)
  Buffer scratch = ctx.allocate(static_cast<size_t>(3 * N * hw + 4 * N * C + 2 * N * hd) * sizeof(double));
  double* dl = static_cast<double*>(scratch.get());
  double* dp = dl + N * hw;
  MlpGrads g;
  g.da = dp + 2 * N * hw;
  g.dz = g.da + N * C;
  g.davg = g.dz + N * C;
  g.dmx = g.davg + N * C;
  g.dha = g.dmx + N * C;
  g.dhm = g.dha + N * hd;

  const Extent pixels{N, hw};
  logit_grad_launch(LogitGradKernel{planes_of(x), planes_of(dy), sv.scale.data(), sv.gate.data(), dl, hw}, pixels,
                    ctx.stream());
  const Partials sp = partial_sums<1>(ctx, kCbamTaps + 1, N, hw, SpatialParamTerm{dl, sv.pooled.data(), h, w},
                                      "cbam_backward/spatial_sums");
  spatial_param_launch(sp, dws.data(), dbs.data(), acc_params, ctx.stream());
  pooled_grad_launch(PooledGradKernel{dl, ws.data(), dp, h, w}, Extent{2 * N, hw}, ctx.stream());
  const ScaledGrad sg{planes_of(dy), sv.gate.data(), dp, sv.pooled_index.data(), hw, 1.0 / double(C)};
  const Partials das = partial_sums<1>(ctx, N * C, 1, hw, ScaleGradTerm{sg, planes_of(x)}, "cbam_backward/scale_sums");
  row_total_launch(das, N * C, g.da, ctx.stream());
  channel_mlp_backward_launch(g, N, sv.scale.data(), sv.hidden_avg.data(), sv.hidden_max.data(), w1.data(), w2.data(),
                              int(C), int(hd), ctx.stream());
  mlp_param_launch(g,
                   MlpParamArgs{sv.hidden_avg.data(), sv.hidden_max.data(), sv.avg.data(), sv.max.data(), dw1.data(),
                                dw2.data(), N, int(C), int(hd), acc_params},
                   ctx.stream());
  input_grad_launch(InputGradKernel{sg, planes_of(dx), sv.scale.data(), g.davg, g.dmx, sv.max_index.data(),
                                    dx_mode == WriteMode::Accumulate},
                    plane_extent(s), ctx.stream());
}

}  // namespace srmds::cuda
