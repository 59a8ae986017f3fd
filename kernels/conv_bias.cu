// Convolution bias on the GPU:
//   forward:  y[n, c, h, w] += b[c]                      (one thread per element)
//   backward: db[c] (=|+=) sum_{n, h, w} dy[n, c, h, w]   (partial sums in double, fixed-order finalize)
#include "common.cuh"
#include "srmds/cuda/bias.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

struct AddBiasOp {
  Planes<float> y;
  const float* bias;
  __device__ void operator()(int64_t p, int64_t k) const { y.plane(p)[k] += bias[p % y.channels]; }
};

struct BiasGradTerm {  // row = channel c, outer = sample n
  const float* dy;
  int64_t batch_stride, plane;
  __device__ void operator()(int64_t c, int64_t n, int64_t k, double (&acc)[1]) const {
    acc[0] += dy[n * batch_stride + c * plane + k];
  }
};

__global__ void bias_grad_kernel(const double* partials, int64_t splits, int64_t channels, float* db,
                                 bool accumulate) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < channels) write_out(db[c], static_cast<float>(total<1>(partials, splits, c, 0)), accumulate);
}

}  // namespace

void add_channel_bias(Ctx& ctx, const TF& bias, TF& y) {
  const Shape& s = y.shape();
  launch_rows(ctx, s.n() * s.c(), s.h() * s.w(), AddBiasOp{planes_of(y), bias.data()}, "conv2d_forward/bias");
}

void conv2d_backward_bias(Ctx& ctx, const TF& dy, TF& db, WriteMode mode) {
  const Shape& s = dy.shape();
  const int64_t C = s.c(), plane = s.h() * s.w();
  if (C == 0) return;
  const Partials part = partial_sums<1>(ctx, C, s.n(), plane, BiasGradTerm{dy.data(), dy.batch_stride(), plane},
                                        "conv2d_backward_bias/partials");
  bias_grad_kernel<<<static_cast<unsigned>((C + kThreads - 1) / kThreads), kThreads, 0, ctx.stream()>>>(
      part.data, part.splits, C, db.data(), mode == WriteMode::Accumulate);
  check_launch("conv2d_backward_bias/finalize");
}

}  // namespace srmds::cuda
