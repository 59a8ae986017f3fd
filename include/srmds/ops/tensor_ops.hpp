// Whole-tensor utilities: fill, strided copy, y += alpha x, and channel concat/split (copies;
// the network itself concatenates through channel views, see core/tensor.hpp). Host <-> device
// copies (to_host, from_host, ...) are in ops/transfer.hpp, included here.
#pragma once

#include "srmds/cpu/tensor_ops.hpp"
#include "srmds/ops/dispatch.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds {

template <class T, class D>
void fill(Context<D>& ctx, Tensor<T, D>& t, T value) {
  (void)ctx;
  SRMDS_DISPATCH(D, cpu::fill(t, value), cuda::fill(ctx, t, value));
}

// dst = src (same shape; either may be a strided view).
template <class T, class D>
void copy(Context<D>& ctx, const Tensor<T, D>& src, Tensor<T, D>& dst) {
  (void)ctx;
  detail::check_same_shape("copy", "src", src, "dst", dst);
  SRMDS_DISPATCH(D, cpu::copy(src, dst), cuda::copy(ctx, src, dst));
}

// y += alpha * x
template <class T, class D>
void axpy(Context<D>& ctx, T alpha, const Tensor<T, D>& x, Tensor<T, D>& y) {
  (void)ctx;
  detail::check_same_shape("axpy", "x", x, "y", y);
  SRMDS_DISPATCH(D, cpu::axpy(alpha, x, y), cuda::axpy(ctx, alpha, x, y));
}

// out = cat(a, b) along channels: (N, Ca, H, W), (N, Cb, H, W) -> (N, Ca + Cb, H, W).
template <class T, class D>
void concat_channels(Context<D>& ctx, const Tensor<T, D>& a, const Tensor<T, D>& b, Tensor<T, D>& out) {
  detail::check_rank4("concat_channels", "a", a);
  detail::check_rank4("concat_channels", "b", b);
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  SRMDS_CHECK(sa.n() == sb.n() && sa.h() == sb.h() && sa.w() == sb.w(),
              "concat_channels: a " << sa << " and b " << sb << " differ in N, H or W");
  detail::check_shape("concat_channels", "out", out, Shape{sa.n(), sa.c() + sb.c(), sa.h(), sa.w()});
  Tensor<T, D> oa = out.channels(0, sa.c());
  Tensor<T, D> ob = out.channels(sa.c(), sb.c());
  copy(ctx, a, oa);
  copy(ctx, b, ob);
}

// The inverse: a = in[:, :Ca], b = in[:, Ca:] (the backward of concat_channels).
template <class T, class D>
void split_channels(Context<D>& ctx, const Tensor<T, D>& in, Tensor<T, D>& a, Tensor<T, D>& b) {
  detail::check_rank4("split_channels", "in", in);
  detail::check_rank4("split_channels", "a", a);
  detail::check_rank4("split_channels", "b", b);
  const Shape& s = in.shape();
  SRMDS_CHECK(a.shape().c() + b.shape().c() == s.c(),
              "split_channels: a " << a.shape() << " and b " << b.shape() << " do not split in " << s);
  detail::check_shape("split_channels", "a", a, Shape{s.n(), a.shape().c(), s.h(), s.w()});
  detail::check_shape("split_channels", "b", b, Shape{s.n(), b.shape().c(), s.h(), s.w()});
  copy(ctx, in.channels(0, a.shape().c()), a);
  copy(ctx, in.channels(a.shape().c(), b.shape().c()), b);
}

}  // namespace srmds
