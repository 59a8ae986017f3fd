// 2-D convolution, stride 1, "same" padding (kh/2, kw/2), kernels 1x1, 1x3, 3x1, 3x3:
//   y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x[n, c, i + p - kh/2, j + q - kw/2]
// (zero outside the image). Backward: data (dx), filter (dw) and bias (db) separately, each with
// its own WriteMode, as cuDNN does.
#pragma once

#include "srmds/cpu/conv2d.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

namespace detail {
template <class T, class D>
void check_conv2d(const char* op, const Tensor<T, D>& x, const Tensor<T, D>& w, const Tensor<T, D>& y) {
  check_rank4(op, "x", x);
  check_rank4(op, "w", w);
  check_rank4(op, "y", y);
  const Shape& ws = w.shape();
  SRMDS_CHECK((ws[2] == 1 || ws[2] == 3) && (ws[3] == 1 || ws[3] == 3),
              op << ": kernel " << ws << " is not 1x1, 1x3, 3x1 or 3x3");
  SRMDS_CHECK(x.shape().c() == ws[1], op << ": x " << x.shape() << " has " << x.shape().c()
                                         << " channels but w " << ws << " expects " << ws[1]);
  const Shape expected{x.shape().n(), ws[0], x.shape().h(), x.shape().w()};
  SRMDS_CHECK(y.shape() == expected, op << ": y " << y.shape() << " expected " << expected << " for x " << x.shape()
                                        << " and w " << ws);
}
}  // namespace detail

template <class T, class D>
void conv2d_forward(Context<D>& ctx, const Tensor<T, D>& x,  // (N, Cin, H, W)
                    const Tensor<T, D>& w,                   // (Cout, Cin, kh, kw)
                    const detail::non_deduced_t<Tensor<T, D>>* bias,  // (Cout) or nullptr
                    Tensor<T, D>& y) {                       // (N, Cout, H, W)
  (void)ctx;
  detail::check_conv2d("conv2d_forward", x, w, y);
  if (bias) detail::check_shape("conv2d_forward", "bias", *bias, Shape{w.shape()[0]});
  SRMDS_DISPATCH(D, cpu::conv2d_forward(x, w, bias, y), cuda::conv2d_forward(ctx, x, w, bias, y));
}

template <class T, class D>
void conv2d_backward_data(Context<D>& ctx, const Tensor<T, D>& dy,  // (N, Cout, H, W)
                          const Tensor<T, D>& w,                    // (Cout, Cin, kh, kw)
                          Tensor<T, D>& dx,                         // (N, Cin, H, W)
                          WriteMode mode) {
  (void)ctx;
  detail::check_conv2d("conv2d_backward_data", dx, w, dy);
  SRMDS_DISPATCH(D, cpu::conv2d_backward_data(dy, w, dx, mode), cuda::conv2d_backward_data(ctx, dy, w, dx, mode));
}

template <class T, class D>
void conv2d_backward_filter(Context<D>& ctx, const Tensor<T, D>& x,  // (N, Cin, H, W)
                            const Tensor<T, D>& dy,                  // (N, Cout, H, W)
                            Tensor<T, D>& dw,                        // (Cout, Cin, kh, kw)
                            WriteMode mode) {
  (void)ctx;
  detail::check_conv2d("conv2d_backward_filter", x, dw, dy);
  SRMDS_DISPATCH(D, cpu::conv2d_backward_filter(x, dy, dw, mode),
                 cuda::conv2d_backward_filter(ctx, x, dy, dw, mode));
}

template <class T, class D>
void conv2d_backward_bias(Context<D>& ctx, const Tensor<T, D>& dy,  // (N, Cout, H, W)
                          Tensor<T, D>& db,                         // (Cout)
                          WriteMode mode) {
  (void)ctx;
  detail::check_rank4("conv2d_backward_bias", "dy", dy);
  detail::check_shape("conv2d_backward_bias", "db", db, Shape{dy.shape().c()});
  SRMDS_DISPATCH(D, cpu::conv2d_backward_bias(dy, db, mode), cuda::conv2d_backward_bias(ctx, dy, db, mode));
}

}  // namespace srmds
