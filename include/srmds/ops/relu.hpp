// ReLU: y = max(x, 0). Backward uses the saved output as the mask: dx = dy * (y > 0).
// x and y may be the same tensor (in place).
#pragma once

#include "srmds/cpu/relu.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

template <class T, class D>
void relu_forward(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, H, W)
                  Tensor<T, D>& y) {                       // (N, C, H, W)
  (void)ctx;
  detail::check_same_shape("relu_forward", "x", x, "y", y);
  SRMDS_DISPATCH(D, cpu::relu_forward(x, y), cuda::relu_forward(ctx, x, y));
}

template <class T, class D>
void relu_backward(Context<D>& ctx, const Tensor<T, D>& y,  // (N, C, H, W) forward output
                   const Tensor<T, D>& dy,                  // (N, C, H, W)
                   Tensor<T, D>& dx,                        // (N, C, H, W)
                   WriteMode mode) {
  (void)ctx;
  detail::check_same_shape("relu_backward", "y", y, "dy", dy);
  detail::check_same_shape("relu_backward", "y", y, "dx", dx);
  SRMDS_DISPATCH(D, cpu::relu_backward(y, dy, dx, mode), cuda::relu_backward(ctx, y, dy, dx, mode));
}

}  // namespace srmds
