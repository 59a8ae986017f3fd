// Squeeze-and-excitation channel attention (SPEC §2):
//   s[n, c] = mean_{h, w} x[n, c, h, w]
//   u[n, j] = ReLU(sum_c W1[j, c] s[n, c] + b1[j])          hidden width h = max(C / r, 4)
//   a[n, c] = sigmoid(sum_j W2[c, j] u[n, j] + b2[c])
//   y[n, c, h, w] = x[n, c, h, w] a[n, c]
// Forward saves s, u and a (SeSaved) for backward. se_relu_forward is SE followed by the SRFV
// block's ReLU in one op, y = max(x a, 0), with y allowed to be x itself (in place); it saves the
// same vectors, so se_backward (with relu_backward before it) differentiates it too.
#pragma once

#include "srmds/cpu/se.hpp"
#include "srmds/cpu/se_relu.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

template <class T, class D>
struct SeSaved {
  Tensor<T, D> mean;    // (N, C)
  Tensor<T, D> hidden;  // (N, Hd) after ReLU
  Tensor<T, D> scale;   // (N, C) sigmoid output a
};

namespace detail {
template <class T, class D>
void check_se(const char* op, const Tensor<T, D>& x, const Tensor<T, D>& w1, const Tensor<T, D>& b1,
              const Tensor<T, D>& w2, const Tensor<T, D>& b2, const SeSaved<T, D>& saved) {
  check_rank4(op, "x", x);
  const int64_t n = x.shape().n(), c = x.shape().c();
  check_rank4(op, "fc1.weight", w1);
  const int64_t hd = w1.shape()[0];
  check_shape(op, "fc1.weight", w1, Shape{hd, c, 1, 1});
  check_shape(op, "fc1.bias", b1, Shape{hd});
  check_shape(op, "fc2.weight", w2, Shape{c, hd, 1, 1});
  check_shape(op, "fc2.bias", b2, Shape{c});
  check_shape(op, "saved.mean", saved.mean, Shape{n, c});
  check_shape(op, "saved.hidden", saved.hidden, Shape{n, hd});
  check_shape(op, "saved.scale", saved.scale, Shape{n, c});
}
}  // namespace detail

// Allocates the saved tensors for an input of shape (N, C, H, W) and hidden width hd.
template <class T, class D>
SeSaved<T, D> se_saved_for(Context<D>& ctx, const Shape& x, int64_t hd) {
  return SeSaved<T, D>{Tensor<T, D>(Shape{x.n(), x.c()}, ctx), Tensor<T, D>(Shape{x.n(), hd}, ctx),
                       Tensor<T, D>(Shape{x.n(), x.c()}, ctx)};
}

template <class T, class D>
void se_forward(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, H, W)
                const Tensor<T, D>& w1, const Tensor<T, D>& b1,  // (Hd, C, 1, 1), (Hd)
                const Tensor<T, D>& w2, const Tensor<T, D>& b2,  // (C, Hd, 1, 1), (C)
                Tensor<T, D>& y,                                 // (N, C, H, W), may not alias x
                SeSaved<T, D>& saved) {
  (void)ctx;
  detail::check_se("se_forward", x, w1, b1, w2, b2, saved);
  detail::check_same_shape("se_forward", "x", x, "y", y);
  SRMDS_DISPATCH(D, cpu::se_forward(x, w1, b1, w2, b2, y, saved.mean, saved.hidden, saved.scale),
                 cuda::se_forward(ctx, x, w1, b1, w2, b2, y, saved.mean, saved.hidden, saved.scale));
}

// y = ReLU(SE(x)) in one pass; y is x itself (in place) or does not overlap it.
template <class T, class D>
void se_relu_forward(Context<D>& ctx, const Tensor<T, D>& x,       // (N, C, H, W)
                     const Tensor<T, D>& w1, const Tensor<T, D>& b1,  // (Hd, C, 1, 1), (Hd)
                     const Tensor<T, D>& w2, const Tensor<T, D>& b2,  // (C, Hd, 1, 1), (C)
                     Tensor<T, D>& y,                                 // (N, C, H, W), may be x
                     SeSaved<T, D>& saved) {
  (void)ctx;
  detail::check_se("se_relu_forward", x, w1, b1, w2, b2, saved);
  detail::check_same_shape("se_relu_forward", "x", x, "y", y);
  SRMDS_DISPATCH(D, cpu::se_relu_forward(x, w1, b1, w2, b2, y, saved.mean, saved.hidden, saved.scale),
                 cuda::se_relu_forward(ctx, x, w1, b1, w2, b2, y, saved.mean, saved.hidden, saved.scale));
}

// dx is written with dx_mode; the four parameter gradients with param_mode.
template <class T, class D>
void se_backward(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, H, W) forward input
                 const Tensor<T, D>& dy,                  // (N, C, H, W)
                 const Tensor<T, D>& w1, const Tensor<T, D>& b1, const Tensor<T, D>& w2, const Tensor<T, D>& b2,
                 const SeSaved<T, D>& saved, Tensor<T, D>& dx, WriteMode dx_mode,
                 Tensor<T, D>& dw1, Tensor<T, D>& db1, Tensor<T, D>& dw2, Tensor<T, D>& db2, WriteMode param_mode) {
  (void)ctx;
  detail::check_se("se_backward", x, w1, b1, w2, b2, saved);
  detail::check_same_shape("se_backward", "x", x, "dy", dy);
  detail::check_same_shape("se_backward", "x", x, "dx", dx);
  detail::check_same_shape("se_backward", "fc1.weight", w1, "d fc1.weight", dw1);
  detail::check_same_shape("se_backward", "fc1.bias", b1, "d fc1.bias", db1);
  detail::check_same_shape("se_backward", "fc2.weight", w2, "d fc2.weight", dw2);
  detail::check_same_shape("se_backward", "fc2.bias", b2, "d fc2.bias", db2);
  SRMDS_DISPATCH(D,
                 cpu::se_backward(x, dy, w1, w2, saved.mean, saved.hidden, saved.scale, dx, dx_mode, dw1, db1, dw2,
                                  db2, param_mode),
                 cuda::se_backward(ctx, x, dy, w1, w2, saved.mean, saved.hidden, saved.scale, dx, dx_mode, dw1, db1,
                                   dw2, db2, param_mode));
}

}  // namespace srmds
