// 2x2 max pooling, stride 2 (H and W even). Forward saves, for every output, the index
// (h * W + w) of the winning input within its (n, c) plane; the first maximum wins on ties.
// Backward scatters dy to those positions (no two outputs share an input).
#pragma once

#include <cstdint>

#include "srmds/cpu/maxpool.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

namespace detail {
template <class T, class D>
void check_maxpool(const char* op, const Tensor<T, D>& x, const Shape& y, const Tensor<int32_t, D>& argmax) {
  check_rank4(op, "x", x);
  const Shape& s = x.shape();
  SRMDS_CHECK(s.h() % 2 == 0 && s.w() % 2 == 0, op << ": x " << s << " has odd height or width");
  const Shape expected{s.n(), s.c(), s.h() / 2, s.w() / 2};
  SRMDS_CHECK(y == expected, op << ": output " << y << " expected " << expected << " for x " << s);
  check_shape(op, "argmax", argmax, expected);
}
}  // namespace detail

template <class T, class D>
void maxpool2_forward(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, H, W)
                      Tensor<T, D>& y,                         // (N, C, H/2, W/2)
                      Tensor<int32_t, D>& argmax) {            // (N, C, H/2, W/2)
  (void)ctx;
  detail::check_maxpool("maxpool2_forward", x, y.shape(), argmax);
  SRMDS_DISPATCH(D, cpu::maxpool2_forward(x, y, argmax), cuda::maxpool2_forward(ctx, x, y, argmax));
}

template <class T, class D>
void maxpool2_backward(Context<D>& ctx, const Tensor<T, D>& dy,  // (N, C, H/2, W/2)
                       const Tensor<int32_t, D>& argmax,         // (N, C, H/2, W/2)
                       Tensor<T, D>& dx,                         // (N, C, H, W)
                       WriteMode mode) {
  (void)ctx;
  detail::check_maxpool("maxpool2_backward", dx, dy.shape(), argmax);
  SRMDS_DISPATCH(D, cpu::maxpool2_backward(dy, argmax, dx, mode), cuda::maxpool2_backward(ctx, dy, argmax, dx, mode));
}

}  // namespace srmds
