// Spatial group-wise enhance (see ops/sge.hpp and ops/math/sge.hpp for the math):
//   forward:  g = mean_hw x (plane sums in double);  energy e = sum_c x_c g_c recomputed per pass
//             (no energy buffer): mean, then sum (e - mu)^2 per (n, group) (partial sums in
//             double), then norm = (e - mu) / (sigma + eps) and y = x sigmoid(w norm + b)
//   backward: S1 = sum dt, S2 = sum dt norm per (n, group), dt recomputed from dy and x;
//             de (a float buffer (N, G, H, W)), dweight / dbias summed over the batch,
//             sum_hw de x per plane, then dx = dy s + de g + sum_hw(de x) / (H W)
// Per element the same operations in the same order as cpu/sge.hpp.
#include "common.cuh"
#include "srmds/cuda/attention_ops.hpp"
#include "srmds/ops/math/sge.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

// The energy of pixel i of row ng = (n, group), channels of the group in ascending order.
struct EnergyView {
  Planes<const float> x;
  const float* mean;  // (N, C)
  int64_t groups, cg;
  __device__ double energy(int64_t ng, int64_t i) const {
    const int64_t n = ng / groups, c0 = (ng % groups) * cg;
    double e = 0.0;
    for (int64_t k = 0; k < cg; ++k) {
      const int64_t p = n * x.channels + c0 + k;
      e += double(x.plane(p)[i]) * double(mean[p]);
    }
    return e;
  }
  // sum over the group's channels of dy x at pixel i
  __device__ double dot(const Planes<const float>& dy, int64_t ng, int64_t i) const {
    const int64_t n = ng / groups, c0 = (ng % groups) * cg;
    double s = 0.0;
    for (int64_t k = 0; k < cg; ++k) {
      const int64_t p = n * x.channels + c0 + k;
      s += double(dy.plane(p)[i]) * double(x.plane(p)[i]);
    }
    return s;
  }
};

struct PlaneSumTerm {
  Planes<const float> x;
  __device__ void operator()(int64_t p, int64_t, int64_t k, double (&acc)[1]) const { acc[0] += x.plane(p)[k]; }
};

struct EnergySumTerm {
  EnergyView v;
  __device__ void operator()(int64_t r, int64_t, int64_t i, double (&acc)[1]) const { acc[0] += v.energy(r, i); }
};

struct EnergyVarTerm {
  EnergyView v;
  const double* mu;  // (N G)
  __device__ void operator()(int64_t r, int64_t, int64_t i, double (&acc)[1]) const {
    const double d = v.energy(r, i) - mu[r];
    acc[0] += d * d;
  }
};

__global__ void plane_mean_kernel(const double* sums, int64_t splits, int64_t rows, double inv_hw, float* mean) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x)
    mean[r] = static_cast<float>(total<1>(sums, splits, r, 0) * inv_hw);
}

// out[r] = scale * (row r's total)
__global__ void row_total_kernel(const double* sums, int64_t splits, int64_t rows, double scale, double* out) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x)
    out[r] = total<1>(sums, splits, r, 0) * scale;
}

__global__ void group_std_kernel(const double* sums, int64_t splits, int64_t rows, double inv_m1, double* sd,
                                 float* stdev) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    sd[r] = sqrt(total<1>(sums, splits, r, 0) * inv_m1);
    stdev[r] = static_cast<float>(sd[r]);
  }
}

struct NormOp {
  EnergyView v;
  const double* mu;
  const double* sd;
  float* norm;  // (N, G, H, W) contiguous
  int64_t hw;
  __device__ void operator()(int64_t r, int64_t i) const {
    norm[r * hw + i] = static_cast<float>((v.energy(r, i) - mu[r]) / (sd[r] + kSgeEps));
  }
};

struct OutputOp {
  Planes<const float> x;
  Planes<float> y;
  const float* norm;
  const float* weight;
  const float* bias;
  int64_t groups, cg, hw;
  __device__ void operator()(int64_t p, int64_t i) const {
    const int64_t c = p % x.channels, g = c / cg, ng = (p / x.channels) * groups + g;
    const float s = static_cast<float>(sge_gate(double(norm[ng * hw + i]), double(weight[g]), double(bias[g])));
    y.plane(p)[i] = x.plane(p)[i] * s;
  }
};

// ---- backward ----

struct GateSumsTerm {  // acc = (sum dt, sum dt norm) over the pixels of row (n, group)
  EnergyView v;
  Planes<const float> dy;
  const float* norm;
  const float* weight;
  const float* bias;
  int64_t groups, hw;
  __device__ void operator()(int64_t r, int64_t, int64_t i, double (&acc)[2]) const {
    const int64_t g = r % groups;
    const double nr = norm[r * hw + i];
    const double s = sge_gate(nr, double(weight[g]), double(bias[g]));
    const double dt = v.dot(dy, r, i) * (s * (1.0 - s));
    acc[0] += dt;
    acc[1] += dt * nr;
  }
};

__global__ void gate_sums_kernel(const double* sums, int64_t splits, int64_t rows, double* s1, double* s2) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    s1[r] = total<2>(sums, splits, r, 0);
    s2[r] = total<2>(sums, splits, r, 1);
  }
}

struct EnergyGradOp {
  EnergyView v;
  Planes<const float> dy;
  const float* norm;
  const float* weight;
  const float* bias;
  const float* stdev;
  const double* s1;
  const double* s2;
  int64_t groups, hw;
  float* de;  // (N, G, H, W)
  __device__ void operator()(int64_t r, int64_t i) const {
    const int64_t g = r % groups;
    const double nr = norm[r * hw + i], w = weight[g];
    const double s = sge_gate(nr, w, double(bias[g]));
    const double dt = v.dot(dy, r, i) * (s * (1.0 - s));
    de[r * hw + i] = static_cast<float>(sge_energy_grad(dt, nr, s1[r], s2[r], w, double(stdev[r]), (long long)hw));
  }
};

__global__ void sge_param_grad_kernel(const double* s1, const double* s2, int64_t batch, int64_t groups, float* dweight,
                                      float* dbias, bool accumulate) {
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
    double gw = 0.0, gb = 0.0;
    for (int64_t n = 0; n < batch; ++n) {
      gw += s2[n * groups + g];
      gb += s1[n * groups + g];
    }
    write_out(dweight[g], static_cast<float>(gw), accumulate);
    write_out(dbias[g], static_cast<float>(gb), accumulate);
  }
}

struct EnergyDotTerm {  // row = plane (n, c): sum_hw de x
  Planes<const float> x;
  const float* de;
  int64_t groups, cg, hw;
  __device__ void operator()(int64_t p, int64_t, int64_t i, double (&acc)[1]) const {
    const int64_t ng = (p / x.channels) * groups + (p % x.channels) / cg;
    acc[0] += double(de[ng * hw + i]) * double(x.plane(p)[i]);
  }
};

struct InputGradOp {
  Planes<const float> dy;
  Planes<float> dx;
  const float* norm;
  const float* weight;
  const float* bias;
  const float* mean;
  const float* de;
  const double* shift;  // (N C) sum_hw(de x) / (H W)
  int64_t groups, cg, hw;
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t i) const {
    const int64_t c = p % dy.channels, g = c / cg, ng = (p / dy.channels) * groups + g;
    const float s = static_cast<float>(sge_gate(double(norm[ng * hw + i]), double(weight[g]), double(bias[g])));
    const float v =
        static_cast<float>(double(dy.plane(p)[i]) * double(s) + double(de[ng * hw + i]) * double(mean[p]) + shift[p]);
    write_out(dx.plane(p)[i], v, accumulate);
  }
};

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 4096)));
}

}  // namespace

void sge_forward(ACtx& ctx, const ATF& x, const ATF& weight, const ATF& bias, ATF& y, ATF& mean, ATF& norm,
                 ATF& stdev) {
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), G = weight.shape()[1];
  if (N == 0 || C == 0) return;
  const int64_t cg = C / G, rows = N * G;
  const Partials sums = partial_sums<1>(ctx, N * C, 1, hw, PlaneSumTerm{planes_of(x)}, "sge_forward/means");
  plane_mean_kernel<<<blocks_for(N * C), kThreads, 0, ctx.stream()>>>(sums.data, sums.splits, N * C, 1.0 / double(hw),
                                                                      mean.data());
  check_launch("sge_forward/mean");
  Buffer scratch = ctx.allocate(static_cast<size_t>(2 * rows) * sizeof(double));
  double* mu = static_cast<double*>(scratch.get());
  double* sd = mu + rows;
  const EnergyView view{planes_of(x), mean.data(), G, cg};
  const Partials esum = partial_sums<1>(ctx, rows, 1, hw, EnergySumTerm{view}, "sge_forward/energy");
  row_total_kernel<<<blocks_for(rows), kThreads, 0, ctx.stream()>>>(esum.data, esum.splits, rows, 1.0 / double(hw), mu);
  check_launch("sge_forward/energy_mean");
  const Partials evar = partial_sums<1>(ctx, rows, 1, hw, EnergyVarTerm{view, mu}, "sge_forward/energy_var");
  group_std_kernel<<<blocks_for(rows), kThreads, 0, ctx.stream()>>>(evar.data, evar.splits, rows, 1.0 / double(hw - 1),
                                                                    sd, stdev.data());
  check_launch("sge_forward/energy_std");
  launch_rows(ctx, rows, hw, NormOp{view, mu, sd, norm.data(), hw}, "sge_forward/norm");
  launch_rows(ctx, N * C, hw, OutputOp{planes_of(x), planes_of(y), norm.data(), weight.data(), bias.data(), G, cg, hw},
              "sge_forward/output");
}

void sge_backward(ACtx& ctx, const ATF& x, const ATF& dy, const ATF& weight, const ATF& bias, const ATF& mean,
                  const ATF& norm, const ATF& stdev, ATF& dx, WriteMode dx_mode, ATF& dweight, ATF& dbias,
                  WriteMode param_mode) {
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), G = weight.shape()[1];
  if (C == 0) return;
  const int64_t cg = C / G, rows = N * G;
  Buffer scratch = ctx.allocate(static_cast<size_t>(std::max<int64_t>(1, 2 * rows)) * sizeof(double));
  double* s1 = static_cast<double*>(scratch.get());
  double* s2 = s1 + rows;
  Buffer de_buf = ctx.allocate(static_cast<size_t>(std::max<int64_t>(1, rows * hw)) * sizeof(float));
  float* de = static_cast<float*>(de_buf.get());
  const EnergyView view{planes_of(x), mean.data(), G, cg};
  if (N > 0) {
    const Partials sums = partial_sums<2>(
        ctx, rows, 1, hw, GateSumsTerm{view, planes_of(dy), norm.data(), weight.data(), bias.data(), G, hw},
        "sge_backward/gate_sums");
    gate_sums_kernel<<<blocks_for(rows), kThreads, 0, ctx.stream()>>>(sums.data, sums.splits, rows, s1, s2);
    check_launch("sge_backward/sums");
    launch_rows(
        ctx, rows, hw,
        EnergyGradOp{view, planes_of(dy), norm.data(), weight.data(), bias.data(), stdev.data(), s1, s2, G, hw, de},
        "sge_backward/energy_grad");
  }
  sge_param_grad_kernel<<<blocks_for(G), kThreads, 0, ctx.stream()>>>(s1, s2, N, G, dweight.data(), dbias.data(),
                                                                      param_mode == WriteMode::Accumulate);
  check_launch("sge_backward/params");
  if (N == 0) return;
  const Partials dots =
      partial_sums<1>(ctx, N * C, 1, hw, EnergyDotTerm{planes_of(x), de, G, cg, hw}, "sge_backward/energy_dot");
  Buffer shift_buf = ctx.allocate(static_cast<size_t>(N * C) * sizeof(double));
  double* shift = static_cast<double*>(shift_buf.get());
  row_total_kernel<<<blocks_for(N * C), kThreads, 0, ctx.stream()>>>(dots.data, dots.splits, N * C, 1.0 / double(hw),
                                                                     shift);
  check_launch("sge_backward/shift");
  launch_rows(ctx, N * C, hw,
              InputGradOp{planes_of(dy), planes_of(dx), norm.data(), weight.data(), bias.data(), mean.data(), de, shift,
                          G, cg, hw, dx_mode == WriteMode::Accumulate},
              "sge_backward/dx");
}

}  // namespace srmds::cuda
