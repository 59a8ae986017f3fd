// Per-channel bias of a convolution on the GPU (kernels/conv_bias.cu), used by the cuDNN-backed
// conv2d ops in src/cuda/conv2d.cpp:  y[n, c, h, w] += b[c].
// (The bias gradient, db[c] = sum_{n, h, w} dy, is cuda::conv2d_backward_bias in cuda/ops.hpp.)
#pragma once

#include "srmds/core/tensor.hpp"

namespace srmds::cuda {

void add_channel_bias(Context<Cuda>& ctx, const Tensor<float, Cuda>& bias,  // (C)
                      Tensor<float, Cuda>& y);                              // (N, C, H, W)

}  // namespace srmds::cuda
