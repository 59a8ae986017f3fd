// CBAM (Woo et al. 2018; SPEC §2), hidden width h:
//   a[n, c]  = sigmoid(W2 ReLU(W1 avg_hw x) + W2 ReLU(W1 max_hw x))      fc1 (h, C, 1, 1), fc2 (C, h, 1, 1), no bias
//   y'       = x a
//   m[n, i]  = sigmoid(conv7x7([mean_c y', max_c y'])[i] + b)             spatial (1, 2, 7, 7) + (1), padding 3
//   y        = y' m
// Forward saves the pooled vectors and maps, the hidden vectors, both gates and the argmax
// positions (CbamSaved). Maxima take the first index on ties. The 7x7 convolution is part of this
// op (ops/math/cbam.hpp), not of conv2d. y may be x itself (in place).
#pragma once

#include "srmds/cpu/cbam.hpp"
#include "srmds/ops/attention_state.hpp"
#include "srmds/ops/dispatch.hpp"
#include "srmds/ops/math/cbam.hpp"

namespace srmds {

namespace detail {
template <class T, class D>
void check_cbam(const char* op, const Tensor<T, D>& x, const Tensor<T, D>& w1, const Tensor<T, D>& w2,
                const Tensor<T, D>& ws, const Tensor<T, D>& bs, const CbamSaved<T, D>& saved) {
  check_rank4(op, "x", x);
  check_rank4(op, "fc1.weight", w1);
  const Shape& s = x.shape();
  const int64_t n = s.n(), c = s.c(), hd = w1.shape()[0];
  SRMDS_CHECK(hd > 0 && c > 0, op << ": x " << s << " and fc1.weight " << w1.shape() << " leave no channels");
  SRMDS_CHECK(s.h() * s.w() > 0 && s.h() * s.w() <= (int64_t(1) << 31) - 1,
              op << ": x " << s << " has no pixels or more than 2^31 - 1 per plane");
  check_shape(op, "fc1.weight", w1, Shape{hd, c, 1, 1});
  check_shape(op, "fc2.weight", w2, Shape{c, hd, 1, 1});
  check_shape(op, "spatial.weight", ws, Shape{1, 2, kCbamKernel, kCbamKernel});
  check_shape(op, "spatial.bias", bs, Shape{1});
  check_shape(op, "saved.avg", saved.avg, Shape{n, c});
  check_shape(op, "saved.max", saved.max, Shape{n, c});
  check_shape(op, "saved.max_index", saved.max_index, Shape{n, c});
  check_shape(op, "saved.hidden_avg", saved.hidden_avg, Shape{n, hd});
  check_shape(op, "saved.hidden_max", saved.hidden_max, Shape{n, hd});
  check_shape(op, "saved.scale", saved.scale, Shape{n, c});
  check_shape(op, "saved.pooled", saved.pooled, Shape{n, 2, s.h(), s.w()});
  check_shape(op, "saved.pooled_index", saved.pooled_index, Shape{n, 1, s.h(), s.w()});
  check_shape(op, "saved.gate", saved.gate, Shape{n, 1, s.h(), s.w()});
}
}  // namespace detail

// Allocates the saved tensors for an input of shape (N, C, H, W) and hidden width hd.
template <class T, class D>
CbamSaved<T, D> cbam_saved_for(Context<D>& ctx, const Shape& x, int64_t hd) {
  const int64_t n = x.n(), c = x.c();
  CbamSaved<T, D> s;
  s.avg = Tensor<T, D>(Shape{n, c}, ctx);
  s.max = Tensor<T, D>(Shape{n, c}, ctx);
  s.max_index = Tensor<int32_t, D>(Shape{n, c}, ctx);
  s.hidden_avg = Tensor<T, D>(Shape{n, hd}, ctx);
  s.hidden_max = Tensor<T, D>(Shape{n, hd}, ctx);
  s.scale = Tensor<T, D>(Shape{n, c}, ctx);
  s.pooled = Tensor<T, D>(Shape{n, 2, x.h(), x.w()}, ctx);
  s.pooled_index = Tensor<int32_t, D>(Shape{n, 1, x.h(), x.w()}, ctx);
  s.gate = Tensor<T, D>(Shape{n, 1, x.h(), x.w()}, ctx);
  return s;
}

template <class T, class D>
void cbam_forward(Context<D>& ctx, const Tensor<T, D>& x,          // (N, C, H, W)
                  const Tensor<T, D>& w1, const Tensor<T, D>& w2,  // (h, C, 1, 1), (C, h, 1, 1)
                  const Tensor<T, D>& ws, const Tensor<T, D>& bs,  // (1, 2, 7, 7), (1)
                  Tensor<T, D>& y,                                 // (N, C, H, W), may be x
                  CbamSaved<T, D>& saved) {
  (void)ctx;
  detail::check_cbam("cbam_forward", x, w1, w2, ws, bs, saved);
  detail::check_same_shape("cbam_forward", "x", x, "y", y);
  SRMDS_DISPATCH(D, cpu::cbam_forward(x, w1, w2, ws, bs, y, saved),
                 cuda::cbam_forward(ctx, x, w1, w2, ws, bs, y, saved));
}

// dx is written with dx_mode; the four parameter gradients with param_mode.
template <class T, class D>
void cbam_backward(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, H, W) forward input
                   const Tensor<T, D>& dy,                  // (N, C, H, W)
                   const Tensor<T, D>& w1, const Tensor<T, D>& w2, const Tensor<T, D>& ws, const Tensor<T, D>& bs,
                   const CbamSaved<T, D>& saved, Tensor<T, D>& dx, WriteMode dx_mode, Tensor<T, D>& dw1,
                   Tensor<T, D>& dw2, Tensor<T, D>& dws, Tensor<T, D>& dbs, WriteMode param_mode) {
  (void)ctx;
  detail::check_cbam("cbam_backward", x, w1, w2, ws, bs, saved);
  detail::check_same_shape("cbam_backward", "x", x, "dy", dy);
  detail::check_same_shape("cbam_backward", "x", x, "dx", dx);
  detail::check_same_shape("cbam_backward", "fc1.weight", w1, "d fc1.weight", dw1);
  detail::check_same_shape("cbam_backward", "fc2.weight", w2, "d fc2.weight", dw2);
  detail::check_same_shape("cbam_backward", "spatial.weight", ws, "d spatial.weight", dws);
  detail::check_same_shape("cbam_backward", "spatial.bias", bs, "d spatial.bias", dbs);
  SRMDS_DISPATCH(D, cpu::cbam_backward(x, dy, w1, w2, ws, saved, dx, dx_mode, dw1, dw2, dws, dbs, param_mode),
                 cuda::cbam_backward(ctx, x, dy, w1, w2, ws, saved, dx, dx_mode, dw1, dw2, dws, dbs, param_mode));
}

}  // namespace srmds
