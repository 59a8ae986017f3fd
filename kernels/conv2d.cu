// The CUDA conv2d ops (see ops/conv2d.hpp): stride 1, "same" padding, 1x1 / 1x3 / 3x1 / 3x3.
// The convolutions run through the cuDNN wrapper (kernels/cudnn.hpp, kernels/cudnn_conv.cpp;
// WriteMode::Accumulate is cuDNN's beta = 1); the bias is ours:
//   forward:  y = conv(x, w) (+ b[c] per channel: one thread per element)
//   backward: dx = conv_transpose(dy, w), dw = corr(x, dy) (cuDNN);
//             db[c] (=|+=) sum_{n, h, w} dy[n, c, h, w] (partial sums in double, fixed-order finalize)
#include "common.cuh"
#include "cudnn.hpp"

namespace srmds::cuda {
namespace {
float beta_of(WriteMode mode) { return mode == WriteMode::Accumulate ? 1.0f : 0.0f; }
}  // namespace

// ---- forward ---------------------------------------------------------------------------------
namespace {
using namespace detail;

struct AddBiasKernel {
  Planes<float> y;
  const float* bias;  // (C)
  __device__ void operator()(int64_t p, int64_t k) const { y.plane(p)[k] += bias[p % y.channels]; }
};

void add_bias_launch(Planes<float> y, const float* bias, Extent e, cudaStream_t stream) {
  launch_rows(AddBiasKernel{y, bias}, e, stream, "conv2d_forward/bias");
}

}  // namespace

void conv2d_forward(Ctx& ctx, const TF& x, const TF& w, const TF* bias, TF& y) {
  cudnn_conv_forward(ctx, x, w, y, 0.0f);
  if (bias) add_bias_launch(detail::planes_of(y), bias->data(), detail::plane_extent(y.shape()), ctx.stream());
}

// ---- backward --------------------------------------------------------------------------------
void conv2d_backward_data(Ctx& ctx, const TF& dy, const TF& w, TF& dx, WriteMode mode) {
  cudnn_conv_backward_data(ctx, dy, w, dx, beta_of(mode));
}

void conv2d_backward_filter(Ctx& ctx, const TF& x, const TF& dy, TF& dw, WriteMode mode) {
  cudnn_conv_backward_filter(ctx, x, dy, dw, beta_of(mode));
}

namespace {
using namespace detail;

struct BiasGradTerm {  // row = channel c, outer = sample n, inner = k in the H*W plane
  const float* dy;
  int64_t batch_stride, plane;
  __device__ void operator()(int64_t c, int64_t n, int64_t k, double (&acc)[1]) const {
    acc[0] += dy[n * batch_stride + c * plane + k];
  }
};

__global__ void __launch_bounds__(kThreads, 1)
    bias_grad_kernel(const double* partials, int64_t splits, int64_t channels, float* db, bool accumulate) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < channels) write_out(db[c], static_cast<float>(total<1>(partials, splits, c, 0)), accumulate);
}

void bias_grad_launch(const Partials& part, int64_t channels, float* db, bool accumulate, cudaStream_t stream) {
  bias_grad_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(part.data, part.splits, channels, db, accumulate);
  check_launch("conv2d_backward_bias/finalize");
}

}  // namespace

void conv2d_backward_bias(Ctx& ctx, const TF& dy, TF& db, WriteMode mode) {
  const Shape& s = dy.shape();
  const int64_t C = s.c(), plane = s.h() * s.w();
  if (C == 0) return;
  const detail::Partials part = detail::partial_sums<1>(
      ctx, C, s.n(), plane, BiasGradTerm{dy.data(), dy.batch_stride(), plane}, "conv2d_backward_bias/partials");
  bias_grad_launch(part, C, db.data(), mode == WriteMode::Accumulate, ctx.stream());
}

}  // namespace srmds::cuda
