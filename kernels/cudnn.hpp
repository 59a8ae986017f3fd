// The cuDNN wrapper (internal to the CUDA backend, not installed): the only code in srmds that
// calls cuDNN (kernels/cudnn_conv.cpp; the handle is created in kernels/context.cpp).
//
// Convolutions with stride 1 and "same" padding (kh/2, kw/2) for 1x1, 1x3, 3x1 and 3x3 kernels,
// float data, NCHW with explicit strides so strided channel views (batch stride != C*H*W) are
// described exactly:
//   forward:         y  = conv(x, w)            + beta * y
//   backward data:   dx = conv_transpose(dy, w) + beta * dx
//   backward filter: dw = corr(x, dy)           + beta * dw
// beta is 0 (WriteMode::Overwrite) or 1 (WriteMode::Accumulate).
//
// Algorithms are chosen once per configuration by a bounded search: cuDNN's heuristics rank them
// (cudnnGetConvolution*Algorithm_v7, nothing run), the first three usable ones that run are timed
// on the call's own inputs (output written to scratch), and the fastest is kept in the context's
// ConvPlanCache, keyed by direction, shapes, batch strides, data pointer alignment, dtype (float),
// math mode (TF32 or FMA) and the context's deterministic switch (on: only algorithms cuDNN
// reports as CUDNN_DETERMINISTIC).
// Workspaces come from the context's arena; nothing is cudaMalloc'ed in steady state. Every tensor
// is checked against cuDNN's 2^31-element limit first (cudnn_limits.hpp).
//
// This uses cuDNN's legacy convolution API (cudnnConvolutionForward and friends), deprecated in
// cuDNN 9 in favour of the graph API; it is confined to kernels/cudnn_conv.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "srmds/core/tensor.hpp"
#include "srmds/cuda/context.hpp"

namespace srmds::cuda {

void cudnn_conv_forward(Context<Cuda>& ctx, const Tensor<float, Cuda>& x,  // (N, Cin, H, W)
                        const Tensor<float, Cuda>& w,                      // (Cout, Cin, kh, kw)
                        Tensor<float, Cuda>& y,                            // (N, Cout, H, W)
                        float beta);
void cudnn_conv_backward_data(Context<Cuda>& ctx, const Tensor<float, Cuda>& dy,  // (N, Cout, H, W)
                              const Tensor<float, Cuda>& w,                       // (Cout, Cin, kh, kw)
                              Tensor<float, Cuda>& dx,                            // (N, Cin, H, W)
                              float beta);
void cudnn_conv_backward_filter(Context<Cuda>& ctx, const Tensor<float, Cuda>& x,  // (N, Cin, H, W)
                                const Tensor<float, Cuda>& dy,                     // (N, Cout, H, W)
                                Tensor<float, Cuda>& dw,                           // (Cout, Cin, kh, kw)
                                float beta);

namespace detail {

// Describes a convolution to cuDNN as the CUDA convolutions do (the 2^31-element limit, the
// tensor, filter and convolution descriptors, FMA and TF32 math) and checks that cuDNN accepts them
// and computes y's shape: no handle and no GPU needed (tests/test_cudnn_descriptors.cpp runs every
// convolution of the network through it on the CPU). Throws srmds::Error naming what failed.
void check_conv_descriptors(const Shape& x, int64_t x_batch_stride,  // (N, Cin, H, W)
                            const Shape& w,                          // (Cout, Cin, kh, kw)
                            const Shape& y, int64_t y_batch_stride);  // (N, Cout, H, W)

// Per-context cache of chosen algorithms with their descriptors (definition in cudnn_conv.cpp).
class ConvPlanCache {
public:
  struct Impl;
  ConvPlanCache();
  ~ConvPlanCache();
  ConvPlanCache(const ConvPlanCache&) = delete;
  ConvPlanCache& operator=(const ConvPlanCache&) = delete;

  size_t size() const;  // number of cached plans
  void clear() noexcept;
  Impl& impl() { return *m_impl; }

private:
  std::unique_ptr<Impl> m_impl;
};

}  // namespace detail
}  // namespace srmds::cuda
