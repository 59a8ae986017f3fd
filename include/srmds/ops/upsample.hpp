// Bilinear resizing of (N, C, h, w) to the size of y, (N, C, H, W); the network uses x2 (SPEC §1).
// Source coordinate of output index d along an axis of in -> out samples:
//   align_corners = true:  s = d * (in - 1) / (out - 1)   (0 when out == 1)
//   align_corners = false: s = max((d + 0.5) * in / out - 0.5, 0)
// then i0 = floor(s), i1 = min(i0 + 1, in - 1), lambda = s - i0 (PyTorch's definition).
// The per-axis index math is bilinear_axis() in cpu/upsample.hpp, shared with the CUDA kernels.
#pragma once

#include "srmds/cpu/upsample.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

namespace detail {
template <class T, class D>
void check_upsample(const char* op, const Tensor<T, D>& x, const Tensor<T, D>& y) {
  check_rank4(op, "x", x);
  check_rank4(op, "y", y);
  SRMDS_CHECK(x.shape().n() == y.shape().n() && x.shape().c() == y.shape().c(),
              op << ": x " << x.shape() << " and y " << y.shape() << " differ in N or C");
  SRMDS_CHECK(x.shape().h() > 0 && x.shape().w() > 0, op << ": x " << x.shape() << " is empty");
}
}  // namespace detail

template <class T, class D>
void upsample_bilinear_forward(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, h, w)
                               Tensor<T, D>& y,                         // (N, C, H, W)
                               bool align_corners) {
  (void)ctx;
  detail::check_upsample("upsample_bilinear_forward", x, y);
  SRMDS_DISPATCH(D, cpu::upsample_bilinear_forward(x, y, align_corners),
                 cuda::upsample_bilinear_forward(ctx, x, y, align_corners));
}

template <class T, class D>
void upsample_bilinear_backward(Context<D>& ctx, const Tensor<T, D>& dy,  // (N, C, H, W)
                                Tensor<T, D>& dx,                         // (N, C, h, w)
                                bool align_corners, WriteMode mode) {
  (void)ctx;
  detail::check_upsample("upsample_bilinear_backward", dx, dy);
  SRMDS_DISPATCH(D, cpu::upsample_bilinear_backward(dy, dx, align_corners, mode),
                 cuda::upsample_bilinear_backward(ctx, dy, dx, align_corners, mode));
}

}  // namespace srmds
