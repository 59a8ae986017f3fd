// Squeeze-and-excitation (see ops/se.hpp and cpu/se.hpp for the math):
//   forward:  s = mean_hw x  (partial sums in double)
//             u = ReLU(W1 s + b1), a = sigmoid(W2 u + b2)   (one block per sample, double)
//             y = x a
//   backward: ga = sum_hw dy x (partial sums in double)
//             gz2 = ga a (1 - a), gz1 = [u > 0] W2^T gz2, gs = W1^T gz1   (one block per sample)
//             dW1 = sum_n gz1 s^T, db1 = sum_n gz1, dW2 = sum_n gz2 u^T, db2 = sum_n gz2 (one thread per parameter)
//             dx = dy a + gs / (H W)
// The tiny MLP runs in parallel over its outputs with the same operation order per output as the
// CPU's se_excitation / se_excitation_backward, accumulated in double like the CPU.
#include "common.cuh"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

constexpr size_t kMaxSharedBytes = 48 * 1024;

struct PlaneSumTerm {  // row = plane (n, c): sum of x
  Planes<const float> x;
  __device__ void operator()(int64_t p, int64_t, int64_t k, double (&acc)[1]) const { acc[0] += x.plane(p)[k]; }
};

struct PlaneDotTerm {  // row = plane (n, c): sum of dy x
  Planes<const float> x, dy;
  __device__ void operator()(int64_t p, int64_t, int64_t k, double (&acc)[1]) const {
    acc[0] += double(dy.plane(p)[k]) * double(x.plane(p)[k]);
  }
};

// Block n: s (from the plane sums), u and a for sample n.
__global__ void se_excitation_kernel(const double* sums, int64_t splits, double inv_hw, const float* w1,
                                     const float* b1, const float* w2, const float* b2, int c, int hd, float* mean,
                                     float* hidden, float* scale) {
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
    double z = b1[j];
    for (int k = 0; k < c; ++k) z += double(w1[int64_t(j) * c + k]) * s[k];
    u[j] = z > 0.0 ? z : 0.0;
    hidden[n * hd + j] = static_cast<float>(u[j]);
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    double z = b2[k];
    for (int j = 0; j < hd; ++j) z += double(w2[int64_t(k) * hd + j]) * u[j];
    scale[n * c + k] = static_cast<float>(sigmoid_of(z));
  }
}

struct ScaleOp {
  Planes<const float> x;
  Planes<float> y;
  const float* scale;  // (N, C)
  __device__ void operator()(int64_t p, int64_t k) const { y.plane(p)[k] = x.plane(p)[k] * scale[p]; }
};

// Block n: gz2 (N, C), gz1 (N, hd) and gs (N, C) for sample n, in double.
__global__ void se_excitation_backward_kernel(const double* dots, int64_t splits, const float* w1, const float* w2,
                                              const float* hidden, const float* scale, int c, int hd, double* gz2,
                                              double* gz1, double* gs) {
  extern __shared__ double smem[];
  double* g2 = smem;      // (C)
  double* g1 = smem + c;  // (hd)
  const int64_t n = blockIdx.x;
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    const double a = scale[n * c + k];
    g2[k] = total<1>(dots, splits, n * c + k, 0) * a * (1.0 - a);
    gz2[n * c + k] = g2[k];
  }
  __syncthreads();
  for (int j = threadIdx.x; j < hd; j += blockDim.x) {
    double g = 0.0;
    for (int k = 0; k < c; ++k) g += double(w2[int64_t(k) * hd + j]) * g2[k];
    g1[j] = hidden[n * hd + j] > 0.0f ? g : 0.0;
    gz1[n * hd + j] = g1[j];
  }
  __syncthreads();
  for (int k = threadIdx.x; k < c; k += blockDim.x) {
    double g = 0.0;
    for (int j = 0; j < hd; ++j) g += double(w1[int64_t(j) * c + k]) * g1[j];
    gs[n * c + k] = g;
  }
}

// One thread per parameter of fc1.bias (hd), fc1.weight (hd * C), fc2.bias (C), fc2.weight (C * hd),
// in that order; each sums over the batch.
__global__ void se_param_grad_kernel(const double* gz2, const double* gz1, const float* mean, const float* hidden,
                                     int64_t batch, int c, int hd, float* db1, float* dw1, float* db2, float* dw2,
                                     bool accumulate) {
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

struct InputGradOp {
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

size_t excitation_shared_bytes(const char* op, int64_t c, int64_t hd) {
  const size_t bytes = static_cast<size_t>(c + hd) * sizeof(double);
  SRMDS_CHECK(bytes <= kMaxSharedBytes, op << ": " << c << " channels and hidden width " << hd
                                           << " exceed the excitation kernel's shared memory");
  return bytes;
}

}  // namespace

void se_forward(Ctx& ctx, const TF& x, const TF& w1, const TF& b1, const TF& w2, const TF& b2, TF& y, TF& mean,
                TF& hidden, TF& scale) {
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), hd = w1.shape()[0];
  if (N == 0 || C == 0) return;
  SRMDS_CHECK(hw > 0, "se_forward: x " << s << " has no pixels");
  const size_t shared = excitation_shared_bytes("se_forward", C, hd);
  const Partials sums = partial_sums<1>(ctx, N * C, 1, hw, PlaneSumTerm{planes_of(x)}, "se_forward/means");
  se_excitation_kernel<<<static_cast<unsigned>(N), kThreads, shared, ctx.stream()>>>(
      sums.data, sums.splits, 1.0 / double(hw), w1.data(), b1.data(), w2.data(), b2.data(), int(C), int(hd),
      mean.data(), hidden.data(), scale.data());
  check_launch("se_forward/excitation");
  launch_rows(ctx, N * C, hw, ScaleOp{planes_of(x), planes_of(y), scale.data()}, "se_forward/scale");
}

void se_backward(Ctx& ctx, const TF& x, const TF& dy, const TF& w1, const TF& w2, const TF& mean, const TF& hidden,
                 const TF& scale, TF& dx, WriteMode dx_mode, TF& dw1, TF& db1, TF& dw2, TF& db2,
                 WriteMode param_mode) {
  const Shape& s = x.shape();
  const int64_t N = s.n(), C = s.c(), hw = s.h() * s.w(), hd = w1.shape()[0];
  if (C == 0) return;
  SRMDS_CHECK(hw > 0, "se_backward: x " << s << " has no pixels");
  const size_t shared = excitation_shared_bytes("se_backward", C, hd);
  Buffer scratch = ctx.allocate(static_cast<size_t>(std::max<int64_t>(1, N * (2 * C + hd))) * sizeof(double));
  double* gz2 = static_cast<double*>(scratch.get());
  double* gs = gz2 + N * C;
  double* gz1 = gs + N * C;
  if (N > 0) {
    const Partials dots =
        partial_sums<1>(ctx, N * C, 1, hw, PlaneDotTerm{planes_of(x), planes_of(dy)}, "se_backward/dot");
    se_excitation_backward_kernel<<<static_cast<unsigned>(N), kThreads, shared, ctx.stream()>>>(
        dots.data, dots.splits, w1.data(), w2.data(), hidden.data(), scale.data(), int(C), int(hd), gz2, gz1, gs);
    check_launch("se_backward/excitation");
  }
  const int64_t params = hd + hd * C + C + C * hd;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((params + kThreads - 1) / kThreads, 4096));
  se_param_grad_kernel<<<blocks, kThreads, 0, ctx.stream()>>>(gz2, gz1, mean.data(), hidden.data(), N, int(C),
                                                               int(hd), db1.data(), dw1.data(), db2.data(),
                                                               dw2.data(), param_mode == WriteMode::Accumulate);
  check_launch("se_backward/params");
  launch_rows(ctx, N * C, hw,
              InputGradOp{planes_of(dy), planes_of(dx), scale.data(), gs, 1.0 / double(hw),
                          dx_mode == WriteMode::Accumulate},
              "se_backward/dx");
}

}  // namespace srmds::cuda
