// The CUDA conv2d ops (declared in cuda/ops.hpp): convolutions through the cuDNN wrapper
// (cuda/cudnn.hpp), the bias through kernels/conv_bias.cu. WriteMode::Accumulate is cuDNN's beta = 1.
#include "srmds/cuda/bias.hpp"
#include "srmds/cuda/cudnn.hpp"
#include "srmds/cuda/ops.hpp"

namespace srmds::cuda {

namespace {
float beta_of(WriteMode mode) { return mode == WriteMode::Accumulate ? 1.0f : 0.0f; }
}  // namespace

void conv2d_forward(Ctx& ctx, const TF& x, const TF& w, const TF* bias, TF& y) {
  cudnn_conv_forward(ctx, x, w, y, 0.0f);
  if (bias) add_channel_bias(ctx, *bias, y);
}

void conv2d_backward_data(Ctx& ctx, const TF& dy, const TF& w, TF& dx, WriteMode mode) {
  cudnn_conv_backward_data(ctx, dy, w, dx, beta_of(mode));
}

void conv2d_backward_filter(Ctx& ctx, const TF& x, const TF& dy, TF& dw, WriteMode mode) {
  cudnn_conv_backward_filter(ctx, x, dy, dw, beta_of(mode));
}

}  // namespace srmds::cuda
