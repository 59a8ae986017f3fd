// Spatial group-wise enhance (see ops/sge.hpp and ops/math/sge.hpp for the math):
//   forward:  g = mean_hw x (plane sums in double);  energy e = sum_c x_c g_c, recomputed in each
//             pass (no energy buffer): mean, then sum (e - mu)^2 per (n, group) (partial sums in
//             double), then norm = (e - mu) / (sigma + eps) and y = x sigmoid(w norm + b)
//   backward: S1 = sum dt, S2 = sum dt norm per (n, group), dt recomputed from dy and x;
//             de (a float buffer (N, G, H, W)); dweight, dbias summed over the batch;
//             sum_hw de x per plane; dx = dy s + de g + sum_hw(de x) / (H W)
// Per element the same operations in the same order as src/cpu/sge.cpp.
#include "common.cuh"
#include "srmds/ops/math/sge.hpp"

namespace srmds::cuda {

// ---- shared by forward and backward ------------------------------------------------------------
namespace {
using namespace detail;

// The energy of pixel i of row ng = (n, group), the group's channels in ascending order.
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

// out[r] = scale * (row r's total)
__global__ void __launch_bounds__(kThreads, 1)
    row_total_kernel(const double* sums, int64_t splits, int64_t rows, double scale, double* out) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x)
    out[r] = total<1>(sums, splits, r, 0) * scale;
}

void row_total_launch(const Partials& p, int64_t rows, double scale, double* out, cudaStream_t stream,
                      const char* name) {
  row_total_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(p.data, p.splits, rows, scale, out);
  check_launch(name);
}

}  // namespace

// ---- forward -----------------------------------------------------------------------------------
namespace {
using namespace detail;

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

__global__ void __launch_bounds__(kThreads, 1)
    plane_mean_kernel(const double* sums, int64_t splits, int64_t rows, double inv_hw, float* mean) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x)
    mean[r] = static_cast<float>(total<1>(sums, splits, r, 0) * inv_hw);
}

void plane_mean_launch(const Partials& p, int64_t rows, double inv_hw, float* mean, cudaStream_t stream) {
  plane_mean_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(p.data, p.splits, rows, inv_hw, mean);
  check_launch("sge_forward/mean");
}

__global__ void __launch_bounds__(kThreads, 1)
    group_std_kernel(const double* sums, int64_t splits, int64_t rows, double inv_m1, double* sd, float* stdev) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    sd[r] = sqrt(total<1>(sums, splits, r, 0) * inv_m1);
    stdev[r] = static_cast<float>(sd[r]);
  }
}

void group_std_launch(const Partials& p, int64_t rows, double inv_m1, double* sd, float* stdev, cudaStream_t stream) {
  group_std_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(p.data, p.splits, rows, inv_m1, sd, stdev);
  check_launch("sge_forward/energy_std");
}

struct NormKernel {
  EnergyView v;
  const double* mu;
  const double* sd;
  float* norm;  // (N, G, H, W) contiguous
  int64_t hw;
  __device__ void operator()(int64_t r, int64_t i) const {
    norm[r * hw + i] = static_cast<float>((v.energy(r, i) - mu[r]) / (sd[r] + kSgeEps));
  }
};

void norm_launch(const EnergyView& v, const double* mu, const double* sd, float* norm, Extent e, cudaStream_t stream) {
  launch_rows(NormKernel{v, mu, sd, norm, e.len}, e, stream, "sge_forward/norm");
}

struct GateParams {
  const float* norm;    // (N, G, H, W)
  const float* weight;  // (G)
  const float* bias;    // (G)
  int64_t groups, cg, hw;
  // The gate s of plane p (n, c) at pixel i, rounded to float as the CPU stores it.
  __device__ float gate(int64_t p, int64_t channels, int64_t i) const {
    const int64_t g = (p % channels) / cg, ng = (p / channels) * groups + g;
    return static_cast<float>(sge_gate(double(norm[ng * hw + i]), double(weight[g]), double(bias[g])));
  }
};

struct OutputKernel {  // y = x s; y may be x (each element read, then written, by one thread)
  Planes<const float> x;
  Planes<float> y;
  GateParams gp;
  __device__ void operator()(int64_t p, int64_t i) const { y.plane(p)[i] = x.plane(p)[i] * gp.gate(p, x.channels, i); }
};

void output_launch(Planes<const float> x, Planes<float> y, const GateParams& gp, Extent e, cudaStream_t stream) {
  launch_rows(OutputKernel{x, y, gp}, e, stream, "sge_forward/output");
}

}  // namespace

void sge_forward(Ctx& ctx, const TF& x, const TF& weight, const TF& bias, TF& y, TF& mean, TF& norm, TF& stdev) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), G = weight.shape()[1];
  if (N == 0 || C == 0) return;
  const int64_t cg = C / G, rows = N * G;
  const Partials sums = partial_sums<1>(ctx, N * C, 1, hw, PlaneSumTerm{detail::planes_of(x)}, "sge_forward/means");
  plane_mean_launch(sums, N * C, 1.0 / double(hw), mean.data(), ctx.stream());
  Buffer scratch = ctx.allocate(static_cast<size_t>(2 * rows) * sizeof(double));
  double* mu = static_cast<double*>(scratch.get());
  double* sd = mu + rows;
  const EnergyView view{detail::planes_of(x), mean.data(), G, cg};
  const Partials esum = partial_sums<1>(ctx, rows, 1, hw, EnergySumTerm{view}, "sge_forward/energy");
  row_total_launch(esum, rows, 1.0 / double(hw), mu, ctx.stream(), "sge_forward/energy_mean");
  const Partials evar = partial_sums<1>(ctx, rows, 1, hw, EnergyVarTerm{view, mu}, "sge_forward/energy_var");
  group_std_launch(evar, rows, 1.0 / double(hw - 1), sd, stdev.data(), ctx.stream());
  norm_launch(view, mu, sd, norm.data(), detail::Extent{rows, hw}, ctx.stream());
  output_launch(detail::planes_of(x), detail::planes_of(y),
                GateParams{norm.data(), weight.data(), bias.data(), G, cg, hw}, detail::plane_extent(s), ctx.stream());
}

// ---- backward ----------------------------------------------------------------------------------
namespace {
using namespace detail;

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

__global__ void __launch_bounds__(kThreads, 1)
    gate_sums_kernel(const double* sums, int64_t splits, int64_t rows, double* s1, double* s2) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    s1[r] = total<2>(sums, splits, r, 0);
    s2[r] = total<2>(sums, splits, r, 1);
  }
}

void gate_sums_launch(const Partials& p, int64_t rows, double* s1, double* s2, cudaStream_t stream) {
  gate_sums_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(p.data, p.splits, rows, s1, s2);
  check_launch("sge_backward/sums");
}

struct EnergyGradKernel {
  GateSumsTerm t;      // v, dy, norm, weight, bias, groups, hw
  const float* stdev;  // (N G)
  const double* s1;
  const double* s2;
  float* de;  // (N, G, H, W)
  __device__ void operator()(int64_t r, int64_t i) const {
    const int64_t g = r % t.groups;
    const double nr = t.norm[r * t.hw + i], w = t.weight[g];
    const double s = sge_gate(nr, w, double(t.bias[g]));
    const double dt = t.v.dot(t.dy, r, i) * (s * (1.0 - s));
    de[r * t.hw + i] = static_cast<float>(sge_energy_grad(dt, nr, s1[r], s2[r], w, double(stdev[r]), (long long)t.hw));
  }
};

void energy_grad_launch(const EnergyGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "sge_backward/energy_grad");
}

__global__ void __launch_bounds__(kThreads, 1)
    sge_param_grad_kernel(const double* s1, const double* s2, int64_t batch, int64_t groups, float* dweight,
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

void sge_param_grad_launch(const double* s1, const double* s2, int64_t batch, int64_t groups, float* dweight,
                           float* dbias, bool accumulate, cudaStream_t stream) {
  sge_param_grad_kernel<<<blocks_for(groups), kThreads, 0, stream>>>(s1, s2, batch, groups, dweight, dbias, accumulate);
  check_launch("sge_backward/params");
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

struct InputGradKernel {
  Planes<const float> dy;
  Planes<float> dx;
  GateParams gp;
  const float* mean;    // (N, C)
  const float* de;      // (N, G, H, W)
  const double* shift;  // (N C) sum_hw(de x) / (H W)
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t i) const {
    const int64_t ng = (p / dy.channels) * gp.groups + (p % dy.channels) / gp.cg;
    const float s = gp.gate(p, dy.channels, i);
    const float v = static_cast<float>(double(dy.plane(p)[i]) * double(s) +
                                       double(de[ng * gp.hw + i]) * double(mean[p]) + shift[p]);
    write_out(dx.plane(p)[i], v, accumulate);
  }
};

void input_grad_launch(const InputGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "sge_backward/dx");
}

}  // namespace

void sge_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& weight, const TF& bias, const TF& mean, const TF& norm,
                  const TF& stdev, TF& dx, WriteMode dx_mode, TF& dweight, TF& dbias, WriteMode param_mode) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), G = weight.shape()[1];
  if (C == 0) return;
  const int64_t cg = C / G, rows = N * G;
  const bool acc_params = param_mode == WriteMode::Accumulate;
  Buffer scratch = ctx.allocate(static_cast<size_t>(std::max<int64_t>(1, 2 * rows + N * C)) * sizeof(double));
  double* s1 = static_cast<double*>(scratch.get());
  double* s2 = s1 + rows;
  double* shift = s2 + rows;
  if (N == 0) {
    sge_param_grad_launch(s1, s2, 0, G, dweight.data(), dbias.data(), acc_params, ctx.stream());  // zeros
    return;
  }
  Buffer de_buf = ctx.allocate(static_cast<size_t>(rows * hw) * sizeof(float));
  float* de = static_cast<float*>(de_buf.get());
  const EnergyView view{detail::planes_of(x), mean.data(), G, cg};
  const GateSumsTerm term{view, detail::planes_of(dy), norm.data(), weight.data(), bias.data(), G, hw};
  const Partials sums = partial_sums<2>(ctx, rows, 1, hw, term, "sge_backward/gate_sums");
  gate_sums_launch(sums, rows, s1, s2, ctx.stream());
  energy_grad_launch(EnergyGradKernel{term, stdev.data(), s1, s2, de}, detail::Extent{rows, hw}, ctx.stream());
  sge_param_grad_launch(s1, s2, N, G, dweight.data(), dbias.data(), acc_params, ctx.stream());
  const Partials dots =
      partial_sums<1>(ctx, N * C, 1, hw, EnergyDotTerm{detail::planes_of(x), de, G, cg, hw}, "sge_backward/energy_dot");
  row_total_launch(dots, N * C, 1.0 / double(hw), shift, ctx.stream(), "sge_backward/shift");
  input_grad_launch(InputGradKernel{detail::planes_of(dy), detail::planes_of(dx),
                                    GateParams{norm.data(), weight.data(), bias.data(), G, cg, hw}, mean.data(), de,
                                    shift, dx_mode == WriteMode::Accumulate},
                    detail::plane_extent(s), ctx.stream());
}

}  // namespace srmds::cuda
