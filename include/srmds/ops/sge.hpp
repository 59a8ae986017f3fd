// Spatial group-wise enhance (SGE, Li et al. 2019; SPEC §2), G groups of C / G channels:
//   g[n, c]    = mean_{h, w} x[n, c, h, w]
//   e[n, g, i] = sum_{c in group g} x[n, c, i] g[n, c]
//   t[n, g, i] = weight_g (e - mean_i e) / (std_i e + 1e-5) + bias_g     (std unbiased, over H W)
//   y[n, c, i] = x[n, c, i] sigmoid(t[n, g(c), i])
// weight, bias (1, G, 1, 1); C must be a multiple of G and H W at least 2. Forward saves the
// channel means, the normalised energy and its standard deviation (SgeSaved) for backward.
// y may be x itself (in place); backward needs the forward input, so training keeps them apart.
#pragma once

#include "srmds/cpu/sge.hpp"
#include "srmds/ops/attention_state.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

namespace detail {
template <class T, class D>
void check_sge(const char* op, const Tensor<T, D>& x, const Tensor<T, D>& weight, const Tensor<T, D>& bias,
               const SgeSaved<T, D>& saved) {
  check_rank4(op, "x", x);
  check_rank4(op, "weight", weight);
  const Shape& s = x.shape();
  const int64_t g = weight.shape()[1];
  check_shape(op, "weight", weight, Shape{1, g, 1, 1});
  check_shape(op, "bias", bias, Shape{1, g, 1, 1});
  SRMDS_CHECK(g > 0 && s.c() % g == 0, op << ": x " << s << " has " << s.c() << " channels, not a multiple of the " << g
                                          << " groups of weight " << weight.shape());
  SRMDS_CHECK(s.h() * s.w() >= 2, op << ": x " << s << " needs at least 2 pixels (unbiased standard deviation)");
  check_shape(op, "saved.mean", saved.mean, Shape{s.n(), s.c()});
  check_shape(op, "saved.norm", saved.norm, Shape{s.n(), g, s.h(), s.w()});
  check_shape(op, "saved.stdev", saved.stdev, Shape{s.n(), g});
  SRMDS_CHECK(saved.norm.is_contiguous(), op << ": saved.norm must be contiguous");
}
}  // namespace detail

// Allocates the saved tensors for an input of shape (N, C, H, W) and G groups.
template <class T, class D>
SgeSaved<T, D> sge_saved_for(Context<D>& ctx, const Shape& x, int64_t groups) {
  return SgeSaved<T, D>{Tensor<T, D>(Shape{x.n(), x.c()}, ctx), Tensor<T, D>(Shape{x.n(), groups, x.h(), x.w()}, ctx),
                        Tensor<T, D>(Shape{x.n(), groups}, ctx)};
}

template <class T, class D>
void sge_forward(Context<D>& ctx, const Tensor<T, D>& x,                // (N, C, H, W)
                 const Tensor<T, D>& weight, const Tensor<T, D>& bias,  // (1, G, 1, 1)
                 Tensor<T, D>& y,                                       // (N, C, H, W), may be x
                 SgeSaved<T, D>& saved) {
  (void)ctx;
  detail::check_sge("sge_forward", x, weight, bias, saved);
  detail::check_same_shape("sge_forward", "x", x, "y", y);
  SRMDS_DISPATCH(D, cpu::sge_forward(x, weight, bias, y, saved.mean, saved.norm, saved.stdev),
                 cuda::sge_forward(ctx, x, weight, bias, y, saved.mean, saved.norm, saved.stdev));
}

// dx is written with dx_mode; dweight and dbias with param_mode.
template <class T, class D>
void sge_backward(Context<D>& ctx, const Tensor<T, D>& x,                // (N, C, H, W) forward input
                  const Tensor<T, D>& dy,                                // (N, C, H, W)
                  const Tensor<T, D>& weight, const Tensor<T, D>& bias,  // (1, G, 1, 1)
                  const SgeSaved<T, D>& saved, Tensor<T, D>& dx, WriteMode dx_mode, Tensor<T, D>& dweight,
                  Tensor<T, D>& dbias, WriteMode param_mode) {
  (void)ctx;
  detail::check_sge("sge_backward", x, weight, bias, saved);
  detail::check_same_shape("sge_backward", "x", x, "dy", dy);
  detail::check_same_shape("sge_backward", "x", x, "dx", dx);
  detail::check_same_shape("sge_backward", "weight", weight, "d weight", dweight);
  detail::check_same_shape("sge_backward", "bias", bias, "d bias", dbias);
  SRMDS_DISPATCH(D,
                 cpu::sge_backward(x, dy, weight, bias, saved.mean, saved.norm, saved.stdev, dx, dx_mode, dweight,
                                   dbias, param_mode),
                 cuda::sge_backward(ctx, x, dy, weight, bias, saved.mean, saved.norm, saved.stdev, dx, dx_mode, dweight,
                                    dbias, param_mode));
}

}  // namespace srmds
