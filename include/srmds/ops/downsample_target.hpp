// Deep-supervision targets (SPEC §3): the full-resolution mask (N, 1, H, W) reduced by a factor
// f = 2^s to (N, 1, H/f, W/f): the mean of each f x f block (soft target, default), its top-left
// value (nearest) or its maximum (max).
#pragma once

#include "srmds/cpu/downsample_target.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

template <class T, class D>
void downsample_target(Context<D>& ctx, const Tensor<T, D>& mask,  // (N, 1, H, W)
                       Tensor<T, D>& out,                          // (N, 1, H/f, W/f)
                       int factor, TargetMode mode) {
  (void)ctx;
  detail::check_rank4("downsample_target", "mask", mask);
  SRMDS_CHECK(factor >= 1, "downsample_target: factor " << factor << " < 1");
  const Shape& s = mask.shape();
  SRMDS_CHECK(s.h() % factor == 0 && s.w() % factor == 0,
              "downsample_target: mask " << s << " is not divisible by " << factor);
  detail::check_shape("downsample_target", "out", out, Shape{s.n(), s.c(), s.h() / factor, s.w() / factor});
  SRMDS_DISPATCH(D, cpu::downsample_target(mask, out, factor, mode),
                 cuda::downsample_target(ctx, mask, out, factor, mode));
}

}  // namespace srmds
