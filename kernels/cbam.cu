// CBAM (see ops/cbam.hpp, cpu/cbam.hpp for the math, ops/math/cbam.hpp for the 7x7 taps):
//   forward:  avg (plane sums in double), max and its first index (one block per plane)
//             channel MLP per sample (one block per sample, double): hidden vectors and gate a
//             pooled map [mean_c x a, max_c x a] and channel argmax per pixel
//             spatial gate m = sigmoid(conv7x7 + b) per pixel (direct taps), y = (x a) m
//   backward: dl per pixel (double buffer), the 98 taps' and the bias gradient as partial sums
//             over (n, pixel), dP per pixel (transposed taps), da per plane, the MLP backward per
//             sample, fc1 / fc2 gradients (one thread per parameter, summed over the batch), dx
// Per element the same operations in the same order as cpu/cbam.hpp.
#include "common.cuh"
#include "srmds/cuda/attention_ops.hpp"
#include "srmds/ops/math/attention.hpp"
#include "srmds/ops/math/cbam.hpp"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 4096)));
}

struct PlaneSumTerm {
  Planes<const float> x;
  __device__ void operator()(int64_t p, int64_t, int64_t k, double (&acc)[1]) const { acc[0] += x.plane(p)[k]; }
};

// out[r] = scale * (row r's total)
__global__ void row_total_kernel(const double* sums, int64_t splits, int64_t rows, double scale, double* out) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x)
    out[r] = total<1>(sums, splits, r, 0) * scale;
}

__global__ void plane_mean_kernel(const double* sums, int64_t splits, int64_t rows, double inv_hw, float* mean) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x)
    mean[r] = static_cast<float>(total<1>(sums, splits, r, 0) * inv_hw);
}

// (v, i) beats (bv, bi) when larger, or equal with a smaller index: the first maximum wins.
__device__ __forceinline__ bool better(float v, int64_t i, float bv, int64_t bi) {
  return v > bv || (v == bv && i < bi);
}

// Block p: max over plane p and its first index.
__global__ void plane_max_kernel(Planes<const float> x, int64_t planes, int64_t hw, float* out, int32_t* index) {
  __shared__ float sv[kThreads];
  __shared__ int64_t si[kThreads];
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {
    const float* a = x.plane(p);
    float bv = a[0];
    int64_t bi = 0;
    for (int64_t i = threadIdx.x; i < hw; i += blockDim.x)
      if (better(a[i], i, bv, bi)) {
        bv = a[i];
        bi = i;
      }
    sv[threadIdx.x] = bv;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
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

// Block n: hidden vectors (float saved, double scratch) and the channel gate of sample n.
__global__ void channel_mlp_kernel(const float* avg, const float* mx, const float* w1, const float* w2, int c, int hd,
                                   double* ha, double* hm, float* hidden_avg, float* hidden_max, float* scale) {
  const int64_t n = blockIdx.x;
  const float* no_bias = nullptr;
  for (int j = threadIdx.x; j < hd; j += blockDim.x) {
    const double a = math::relu(affine_out<double>(w1, no_bias, avg + n * c, c, j));
    const double m = math::relu(affine_out<double>(w1, no_bias, mx + n * c, c, j));
    ha[n * hd + j] = a;
    hm[n * hd + j] = m;
    hidden_avg[n * hd + j] = static_cast<float>(a);
    hidden_max[n * hd + j] = static_cast<float>(m);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    const double za = affine_out<double>(w2, no_bias, ha + n * hd, hd, k);
    const double zm = affine_out<double>(w2, no_bias, hm + n * hd, hd, k);
    scale[n * c + k] = static_cast<float>(sigmoid_of(za + zm));
  }
}

struct PoolOp {  // row n, pixel i: mean and max over channels of x a
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

struct GateOp {
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

struct OutputOp {
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

// ---- backward ----

struct LogitGradOp {  // dl = m (1 - m) sum_c dy_c (x_c a_c)
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

__global__ void spatial_param_kernel(const double* sums, int64_t splits, float* dws, float* dbs, bool accumulate) {
  for (int t = blockIdx.x * blockDim.x + threadIdx.x; t <= kCbamTaps; t += gridDim.x * blockDim.x) {
    const float g = static_cast<float>(total<1>(sums, splits, t, 0));
    if (t < kCbamTaps)
      write_out(dws[t], g, accumulate);
    else
      write_out(dbs[0], g, accumulate);
  }
}

struct PooledGradOp {  // row (n, k), pixel i
  const double* dl;
  const float* ws;
  double* dp;  // (N, 2, H, W)
  int h, w;
  __device__ void operator()(int64_t r, int64_t i) const {
    const int64_t hw = int64_t(h) * w, n = r / 2;
    dp[r * hw + i] = cbam_spatial_input_grad<double>(dl + n * hw, h, w, int(r % 2), int(i / w), int(i % w), ws);
  }
};

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

// Block n: dz (C), dha, dhm (hd), davg, dmax (C) of sample n.
__global__ void channel_mlp_backward_kernel(const double* da, const float* scale, const float* hidden_avg,
                                            const float* hidden_max, const float* w1, const float* w2, int c, int hd,
                                            double* dz, double* dha, double* dhm, double* davg, double* dmx) {
  const int64_t n = blockIdx.x;
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    const double a = scale[n * c + k];
    dz[n * c + k] = da[n * c + k] * a * (1.0 - a);
  }
  __syncthreads();
  for (int j = threadIdx.x; j < hd; j += blockDim.x) {
    const double g = transpose_out<double>(w2, dz + n * c, c, hd, j);
    dha[n * hd + j] = hidden_avg[n * hd + j] > 0.0f ? g : 0.0;
    dhm[n * hd + j] = hidden_max[n * hd + j] > 0.0f ? g : 0.0;
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    davg[n * c + k] = transpose_out<double>(w1, dha + n * hd, hd, c, k);
    dmx[n * c + k] = transpose_out<double>(w1, dhm + n * hd, hd, c, k);
  }
}

// One thread per parameter of fc2.weight (C * hd), then fc1.weight (hd * C).
__global__ void mlp_param_kernel(const double* dz, const double* dha, const double* dhm, const float* hidden_avg,
                                 const float* hidden_max, const float* avg, const float* mx, int64_t batch, int c,
                                 int hd, float* dw1, float* dw2, bool accumulate) {
  const int64_t per = int64_t(c) * hd;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < 2 * per; t += int64_t(gridDim.x) * blockDim.x) {
    if (t < per) {
      const int k = int(t / hd), j = int(t % hd);
      const double g = batch_outer<double>(dz, hidden_avg, batch, c, hd, k, j) +
                       batch_outer<double>(dz, hidden_max, batch, c, hd, k, j);
      write_out(dw2[t], static_cast<float>(g), accumulate);
    } else {
      const int64_t i = t - per;
      const int j = int(i / c), k = int(i % c);
      const double g =
          batch_outer<double>(dha, avg, batch, hd, c, j, k) + batch_outer<double>(dhm, mx, batch, hd, c, j, k);
      write_out(dw1[i], static_cast<float>(g), accumulate);
    }
  }
}

struct InputGradOp {
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

}  // namespace

void cbam_forward(ACtx& ctx, const ATF& x, const ATF& w1, const ATF& w2, const ATF& ws, const ATF& bs, ATF& y,
                  CbamSaved<float, Cuda>& sv) {
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), hd = w1.shape()[0];
  if (N == 0) return;
  const Partials sums = partial_sums<1>(ctx, N * C, 1, hw, PlaneSumTerm{planes_of(x)}, "cbam_forward/avg");
  plane_mean_kernel<<<blocks_for(N * C), kThreads, 0, ctx.stream()>>>(sums.data, sums.splits, N * C, 1.0 / double(hw),
                                                                      sv.avg.data());
  check_launch("cbam_forward/avg_total");
  const unsigned max_blocks = static_cast<unsigned>(std::min<int64_t>(N * C, 65535));
  plane_max_kernel<<<max_blocks, kThreads, 0, ctx.stream()>>>(planes_of(x), N * C, hw, sv.max.data(),
                                                              sv.max_index.data());
  check_launch("cbam_forward/max");
  Buffer scratch = ctx.allocate(static_cast<size_t>(2 * N * hd) * sizeof(double));
  double* ha = static_cast<double*>(scratch.get());
  double* hm = ha + N * hd;
  channel_mlp_kernel<<<static_cast<unsigned>(N), kThreads, 0, ctx.stream()>>>(
      sv.avg.data(), sv.max.data(), w1.data(), w2.data(), int(C), int(hd), ha, hm, sv.hidden_avg.data(),
      sv.hidden_max.data(), sv.scale.data());
  check_launch("cbam_forward/mlp");
  launch_rows(ctx, N, hw, PoolOp{planes_of(x), sv.scale.data(), sv.pooled.data(), sv.pooled_index.data(), hw},
              "cbam_forward/pool");
  launch_rows(ctx, N, hw, GateOp{sv.pooled.data(), ws.data(), bs.data(), sv.gate.data(), int(s.h()), int(s.w())},
              "cbam_forward/gate");
  launch_rows(ctx, N * C, hw, OutputOp{planes_of(x), planes_of(y), sv.scale.data(), sv.gate.data(), hw},
              "cbam_forward/output");
}

void cbam_backward(ACtx& ctx, const ATF& x, const ATF& dy, const ATF& w1, const ATF& w2, const ATF& ws,
                   const CbamSaved<float, Cuda>& sv, ATF& dx, WriteMode dx_mode, ATF& dw1, ATF& dw2, ATF& dws, ATF& dbs,
                   WriteMode param_mode) {
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), hd = w1.shape()[0];
  const int h = int(s.h()), w = int(s.w());
  const bool acc_params = param_mode == WriteMode::Accumulate;
  // double scratch: dl (N hw), dP (2 N hw), da, dz, davg, dmx (N C each), dha, dhm (N hd each)
  const int64_t count = 3 * N * hw + 4 * N * C + 2 * N * hd;
  Buffer scratch = ctx.allocate(static_cast<size_t>(std::max<int64_t>(1, count)) * sizeof(double));
  double* dl = static_cast<double*>(scratch.get());
  double* dp = dl + N * hw;
  double* da = dp + 2 * N * hw;
  double* dz = da + N * C;
  double* davg = dz + N * C;
  double* dmx = davg + N * C;
  double* dha = dmx + N * C;
  double* dhm = dha + N * hd;
  if (N == 0) {  // no samples: the parameter gradients are zero
    if (!acc_params) {
      fill(ctx, dws, 0.0f);
      fill(ctx, dbs, 0.0f);
      fill(ctx, dw1, 0.0f);
      fill(ctx, dw2, 0.0f);
    }
    return;
  }
  launch_rows(ctx, N, hw, LogitGradOp{planes_of(x), planes_of(dy), sv.scale.data(), sv.gate.data(), dl, hw},
              "cbam_backward/logit");
  const Partials sp = partial_sums<1>(ctx, kCbamTaps + 1, N, hw, SpatialParamTerm{dl, sv.pooled.data(), h, w},
                                      "cbam_backward/spatial_params");
  spatial_param_kernel<<<1, 128, 0, ctx.stream()>>>(sp.data, sp.splits, dws.data(), dbs.data(), acc_params);
  check_launch("cbam_backward/spatial_totals");
  launch_rows(ctx, 2 * N, hw, PooledGradOp{dl, ws.data(), dp, h, w}, "cbam_backward/pooled");
  const ScaledGrad g{planes_of(dy), sv.gate.data(), dp, sv.pooled_index.data(), hw, 1.0 / double(C)};
  const Partials das = partial_sums<1>(ctx, N * C, 1, hw, ScaleGradTerm{g, planes_of(x)}, "cbam_backward/scale_grad");
  row_total_kernel<<<blocks_for(N * C), kThreads, 0, ctx.stream()>>>(das.data, das.splits, N * C, 1.0, da);
  check_launch("cbam_backward/scale_total");
  channel_mlp_backward_kernel<<<static_cast<unsigned>(N), kThreads, 0, ctx.stream()>>>(
      da, sv.scale.data(), sv.hidden_avg.data(), sv.hidden_max.data(), w1.data(), w2.data(), int(C), int(hd), dz, dha,
      dhm, davg, dmx);
  check_launch("cbam_backward/mlp");
  mlp_param_kernel<<<blocks_for(2 * C * hd), kThreads, 0, ctx.stream()>>>(
      dz, dha, dhm, sv.hidden_avg.data(), sv.hidden_max.data(), sv.avg.data(), sv.max.data(), N, int(C), int(hd),
      dw1.data(), dw2.data(), acc_params);
  check_launch("cbam_backward/mlp_params");
  launch_rows(
      ctx, N * C, hw,
      InputGradOp{g, planes_of(dx), sv.scale.data(), davg, dmx, sv.max_index.data(), dx_mode == WriteMode::Accumulate},
      "cbam_backward/dx");
}

}  // namespace srmds::cuda
