// Squeeze-and-excitation (see ops/se.hpp and cpu/se.hpp for the math):
//   forward:  s = mean_hw x  (partial sums in double)
//             u = ReLU(W1 s + b1), a = sigmoid(W2 u + b2)   (one block per sample, double)
//             y = x a                  (se_forward)
//             y = max(x a, 0), y may be x (se_relu_forward: SE and the block's ReLU in one pass,
//                                      twin of cpu/se_relu.hpp)
//   backward: ga = sum_hw dy x (partial sums in double)
//             gz2 = ga a (1 - a), gz1 = [u > 0] W2^T gz2, gs = W1^T gz1   (one block per sample)
//             dW1 = sum_n gz1 s^T, db1 = sum_n gz1, dW2 = sum_n gz2 u^T, db2 = sum_n gz2 (one thread per parameter)
//             dx = dy a + gs / (H W)
// The tiny MLP runs in parallel over its outputs, each output computed by the per-output functions
// of ops/math/se.hpp (se_hidden_unit, se_gate, se_gate_grad, se_hidden_grad, se_squeeze_grad) that
// the CPU's se_excitation / se_excitation_backward run in order: the same operations in the same
// order, accumulated in double.
#include "common.cuh"
#include "srmds/ops/math/scalar.hpp"
#include "srmds/ops/math/se.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

constexpr size_t kMaxSharedBytes = 48 * 1024;

size_t excitation_shared_bytes(const char* op, int64_t c, int64_t hd) {
  const size_t bytes = static_cast<size_t>(c + hd) * sizeof(double);
  SRMDS_CHECK(bytes <= kMaxSharedBytes, op << ": " << c << " channels and hidden width " << hd
                                           << " exceed the excitation kernel's shared memory");
  return bytes;
}

}  // namespace

// ---- forward: squeeze and excite ---------------------------------------------------------------
namespace {
using namespace detail;

struct PlaneSumTerm {  // row = plane (n, c): sum of x
  Planes<const float> x;
  __device__ void operator()(int64_t p, int64_t, int64_t k, double (&acc)[1]) const { acc[0] += x.plane(p)[k]; }
};

// Block n: s (from the plane sums), u and a for sample n.
__global__ void __launch_bounds__(kThreads, 1)
    se_excitation_kernel(const double* sums, int64_t splits, double inv_hw, const float* w1, const float* b1,
                         const float* w2, const float* b2, int c, int hd, float* mean, float* hidden, float* scale) {
  extern __shared__ double smem[];
  double* s = smem;      // (C)
  double* u = smem + c;  // (hd)
  const int64_t n = blockIdx.x;
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    s[k] = total<1>(sums, splits, n * c + k, 0) * inv_hw;
    mean[n * c + k] = static_cast<float>(s[k]);
  }
  __syncthreads();
  for (int j = threadIdx.x; j < hd; j += blockDim.x) {
    u[j] = se_hidden_unit(s, w1, b1, c, j);
    hidden[n * hd + j] = static_cast<float>(u[j]);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) scale[n * c + k] = static_cast<float>(se_gate(u, w2, b2, hd, k));
}

struct ExcitationArgs {
  const float *w1, *b1, *w2, *b2;  // (hd, C), (hd), (C, hd), (C)
  float *mean, *hidden, *scale;    // (N, C), (N, hd), (N, C)
  int c, hd;
};

void se_excitation_launch(const Partials& sums, int64_t samples, double inv_hw, const ExcitationArgs& a,
                          size_t shared, cudaStream_t stream) {
  se_excitation_kernel<<<static_cast<unsigned>(samples), kThreads, shared, stream>>>(
      sums.data, sums.splits, inv_hw, a.w1, a.b1, a.w2, a.b2, a.c, a.hd, a.mean, a.hidden, a.scale);
  check_launch("se_forward/excitation");
}

// mean, hidden and scale of x (both forward ops). False when there is nothing to compute.
bool squeeze_excite(Ctx& ctx, const char* op, const TF& x, const TF& w1, const TF& b1, const TF& w2, const TF& b2,
                    TF& mean, TF& hidden, TF& scale) {
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), hd = w1.shape()[0];
  if (N == 0 || C == 0) return false;
  SRMDS_CHECK(hw > 0, op << ": x " << s << " has no pixels");
  const size_t shared = excitation_shared_bytes(op, C, hd);
  const Partials sums = partial_sums<1>(ctx, N * C, 1, hw, PlaneSumTerm{planes_of(x)}, "se_forward/means");
  se_excitation_launch(sums, N, 1.0 / double(hw),
                       ExcitationArgs{w1.data(), b1.data(), w2.data(), b2.data(), mean.data(), hidden.data(),
                                      scale.data(), int(C), int(hd)},
                       shared, ctx.stream());
  return true;
}

}  // namespace

// ---- forward: scale (se_forward) and scale + ReLU (se_relu_forward) --------------------------
namespace {
using namespace detail;

// y = x a per (n, c) plane, or max(x a, 0) with the ReLU; y may be x (each element is read, then
// written, by one thread).
template <bool with_relu>
struct ScaleKernel {
  Planes<const float> x;
  Planes<float> y;
  const float* scale;  // (N, C)
  __device__ void operator()(int64_t p, int64_t k) const {
    const float v = x.plane(p)[k] * scale[p];
    y.plane(p)[k] = with_relu ? math::relu(v) : v;
  }
};

template <bool with_relu>
void scale_launch(Planes<const float> x, Planes<float> y, const float* scale, Extent e, cudaStream_t stream) {
  launch_rows(ScaleKernel<with_relu>{x, y, scale}, e, stream, with_relu ? "se_relu_forward/scale" : "se_forward/scale");
}

}  // namespace

void se_forward(Ctx& ctx, const TF& x, const TF& w1, const TF& b1, const TF& w2, const TF& b2, TF& y, TF& mean,
                TF& hidden, TF& scale) {
  if (!squeeze_excite(ctx, "se_forward", x, w1, b1, w2, b2, mean, hidden, scale)) return;
  scale_launch<false>(detail::planes_of(x), detail::planes_of(y), scale.data(), detail::plane_extent(x.shape()),
                      ctx.stream());
}

void se_relu_forward(Ctx& ctx, const TF& x, const TF& w1, const TF& b1, const TF& w2, const TF& b2, TF& y, TF& mean,
                     TF& hidden, TF& scale) {
  if (!squeeze_excite(ctx, "se_relu_forward", x, w1, b1, w2, b2, mean, hidden, scale)) return;
  scale_launch<true>(detail::planes_of(x), detail::planes_of(y), scale.data(), detail::plane_extent(x.shape()),
                     ctx.stream());
}

// ---- backward ----------------------------------------------------------------------------------
namespace {
using namespace detail;

struct PlaneDotTerm {  // row = plane (n, c): sum of dy x
  Planes<const float> x, dy;
  __device__ void operator()(int64_t p, int64_t, int64_t k, double (&acc)[1]) const {
    acc[0] += double(dy.plane(p)[k]) * double(x.plane(p)[k]);
  }
};

// Block n: gz2 (N, C), gz1 (N, hd) and gs (N, C) for sample n, in double.
__global__ void __launch_bounds__(kThreads, 1)
    se_excitation_backward_kernel(const double* dots, int64_t splits, const float* w1, const float* w2,
                                  const float* hidden, const float* scale, int c, int hd, double* gz2, double* gz1,
                                  double* gs) {
  extern __shared__ double smem[];
  double* g2 = smem;      // (C)
  double* g1 = smem + c;  // (hd)
  const int64_t n = blockIdx.x;
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    g2[k] = se_gate_grad(total<1>(dots, splits, n * c + k, 0), double(scale[n * c + k]));
    gz2[n * c + k] = g2[k];
  }
  __syncthreads();
  for (int j = threadIdx.x; j < hd; j += blockDim.x) {
    g1[j] = se_hidden_grad(g2, double(hidden[n * hd + j]), w2, c, hd, j);
    gz1[n * hd + j] = g1[j];
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) gs[n * c + k] = se_squeeze_grad(g1, w1, c, hd, k);
}

// The backward's scratch: (N, C) gz2, (N, C) gs, (N, hd) gz1.
struct BackwardScratch {
  double *gz2, *gs, *gz1;
};

void se_excitation_backward_launch(const Partials& dots, int64_t samples, const float* w1, const float* w2,
                                   const float* hidden, const float* scale, int c, int hd, const BackwardScratch& g,
                                   size_t shared, cudaStream_t stream) {
  se_excitation_backward_kernel<<<static_cast<unsigned>(samples), kThreads, shared, stream>>>(
      dots.data, dots.splits, w1, w2, hidden, scale, c, hd, g.gz2, g.gz1, g.gs);
  check_launch("se_backward/excitation");
}

// One thread per parameter of fc1.bias (hd), fc1.weight (hd * C), fc2.bias (C), fc2.weight (C * hd),
// in that order; each sums over the batch.
__global__ void __launch_bounds__(kThreads, 1)
    se_param_grad_kernel(const double* gz2, const double* gz1, const float* mean, const float* hidden, int64_t batch,
                         int c, int hd, float* db1, float* dw1, float* db2, float* dw2, bool accumulate) {
  const int64_t total_params = int64_t(hd) + int64_t(hd) * c + c + int64_t(c) * hd;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < total_params;
       t += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = t;
    double g = 0.0;
    if (i < hd) {
      for (int64_t n = 0; n < batch; ++n) g += gz1[n * hd + i];
      write_out(db1[i], static_cast<float>(g), accumulate);
      continue;
    }
    i -= hd;
    if (i < int64_t(hd) * c) {
      const int64_t j = i / c, k = i % c;
      for (int64_t n = 0; n < batch; ++n) g += gz1[n * hd + j] * double(mean[n * c + k]);
      write_out(dw1[i], static_cast<float>(g), accumulate);
      continue;
    }
    i -= int64_t(hd) * c;
    if (i < c) {
      for (int64_t n = 0; n < batch; ++n) g += gz2[n * c + i];
      write_out(db2[i], static_cast<float>(g), accumulate);
      continue;
    }
    i -= c;
    const int64_t k = i / hd, j = i % hd;
    for (int64_t n = 0; n < batch; ++n) g += gz2[n * c + k] * double(hidden[n * hd + j]);
    write_out(dw2[i], static_cast<float>(g), accumulate);
  }
}

struct ParamGrads {
  float *dw1, *db1, *dw2, *db2;
};

void se_param_grad_launch(const BackwardScratch& g, const float* mean, const float* hidden, int64_t batch, int c,
                          int hd, const ParamGrads& d, bool accumulate, cudaStream_t stream) {
  const int64_t params = int64_t(hd) + int64_t(hd) * c + c + int64_t(c) * hd;
  se_param_grad_kernel<<<item_blocks(params), kThreads, 0, stream>>>(g.gz2, g.gz1, mean, hidden, batch, c, hd, d.db1,
                                                                     d.dw1, d.db2, d.dw2, accumulate);
  check_launch("se_backward/params");
}

struct InputGradKernel {
  Planes<const float> dy;
  Planes<float> dx;
  const float* scale;  // (N, C)
  const double* gs;    // (N, C)
  double inv_hw;
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t k) const {
    const float shift = static_cast<float>(gs[p] * inv_hw);
    write_out(dx.plane(p)[k], dy.plane(p)[k] * scale[p] + shift, accumulate);
  }
};

void input_grad_launch(const InputGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "se_backward/dx");
}

}  // namespace

void se_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& w1, const TF& w2, const TF& mean, const TF& hidden,
                 const TF& scale, TF& dx, WriteMode dx_mode, TF& dw1, TF& db1, TF& dw2, TF& db2,
                 WriteMode param_mode) {
  using namespace detail;
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), hd = w1.shape()[0];
  if (C == 0) return;
  SRMDS_CHECK(hw > 0, "se_backward: x " << s << " has no pixels");
  const size_t shared = excitation_shared_bytes("se_backward", C, hd);
  Buffer scratch = ctx.allocate(static_cast<size_t>(std::max<int64_t>(1, N * (2 * C + hd))) * sizeof(double));
  double* base = static_cast<double*>(scratch.get());
  const BackwardScratch g{base, base + N * C, base + 2 * N * C};
  if (N > 0) {
    const Partials dots =
        partial_sums<1>(ctx, N * C, 1, hw, PlaneDotTerm{planes_of(x), planes_of(dy)}, "se_backward/dot");
    se_excitation_backward_launch(dots, N, w1.data(), w2.data(), hidden.data(), scale.data(), int(C), int(hd), g,
                                  shared, ctx.stream());
  }
  se_param_grad_launch(g, mean.data(), hidden.data(), N, int(C), int(hd),
                       ParamGrads{dw1.data(), db1.data(), dw2.data(), db2.data()},
                       param_mode == WriteMode::Accumulate, ctx.stream());
  input_grad_launch(InputGradKernel{planes_of(dy), planes_of(dx), scale.data(), g.gs, 1.0 / double(hw),
                                    dx_mode == WriteMode::Accumulate},
                    plane_extent(s), ctx.stream());
}

}  // namespace srmds::cuda
