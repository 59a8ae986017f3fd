// Sigmoid: y = 1 / (1 + exp(-x)), computed without overflow for large |x|. dx = dy * y (1 - y).
#pragma once

#include "srmds/cpu/sigmoid.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

template <class T, class D>
void sigmoid_forward(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y) {
  (void)ctx;
  detail::check_same_shape("sigmoid_forward", "x", x, "y", y);
  SRMDS_DISPATCH(D, cpu::sigmoid_forward(x, y), cuda::sigmoid_forward(ctx, x, y));
}

template <class T, class D>
void sigmoid_backward(Context<D>& ctx, const Tensor<T, D>& y, const Tensor<T, D>& dy, Tensor<T, D>& dx,
                      WriteMode mode) {
  (void)ctx;
  detail::check_same_shape("sigmoid_backward", "y", y, "dy", dy);
  detail::check_same_shape("sigmoid_backward", "y", y, "dx", dx);
  SRMDS_DISPATCH(D, cpu::sigmoid_backward(y, dy, dx, mode), cuda::sigmoid_backward(ctx, y, dy, dx, mode));
}

}  // namespace srmds
