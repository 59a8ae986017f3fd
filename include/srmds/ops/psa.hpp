// Polarized self-attention, parallel form (Liu et al. 2021; SPEC §2), C channels, Ch = C / 2,
// all W 1x1 convolutions with bias (PsaSet, ops/attention_state.hpp):
//   channel:  v = Wv x (C -> Ch),  q = softmax_hw(Wq x) (C -> 1),  z = sum_hw v q  (N, Ch)
//             a = sigmoid(LayerNorm_C(Wz z))  (Ch -> C; weight ch_ln.weight, bias ch_ln.bias, eps 1e-5)
//   spatial:  v' = Wv' x (C -> Ch),  q' = softmax_c(mean_hw Wq' x) (C -> Ch)
//             m = sigmoid(sum_c q'_c v'_c)  (N, 1, H, W)
//   y = x a + x m
// Computed without the (N, Ch, H, W) maps (ops/math/psa.hpp). C >= 2. Forward saves PsaSaved.
// y may be x itself (in place).
#pragma once

#include <string>

#include "srmds/cpu/psa.hpp"
#include "srmds/ops/attention_state.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

namespace detail {
template <class T, class D>
void check_psa(const char* op, const Tensor<T, D>& x, const PsaWeights<T, D>& p, const PsaSaved<T, D>& saved) {
  check_rank4(op, "x", x);
  const Shape& s = x.shape();
  const int64_t n = s.n(), c = s.c(), ch = c / 2;
  SRMDS_CHECK(c >= 2, op << ": x " << s << " needs at least 2 channels");
  SRMDS_CHECK(s.h() * s.w() > 0, op << ": x " << s << " has no pixels");
  const auto want = psa_param_shapes(c).items();
  const auto got = p.items();
  for (size_t i = 0; i < got.size(); ++i) {
    SRMDS_CHECK(got[i] != nullptr, op << ": parameter " << kPsaParamNames[i] << " is missing");
    check_shape(op, kPsaParamNames[i], *got[i], want[i]);
  }
  check_shape(op, "saved.q", saved.q, Shape{n, 1, s.h(), s.w()});
  check_shape(op, "saved.yq", saved.yq, Shape{n, c});
  check_shape(op, "saved.z", saved.z, Shape{n, ch});
  check_shape(op, "saved.ln_norm", saved.ln_norm, Shape{n, c});
  check_shape(op, "saved.ln_rstd", saved.ln_rstd, Shape{n});
  check_shape(op, "saved.scale", saved.scale, Shape{n, c});
  check_shape(op, "saved.mean", saved.mean, Shape{n, c});
  check_shape(op, "saved.sq", saved.sq, Shape{n, ch});
  check_shape(op, "saved.u", saved.u, Shape{n, c});
  check_shape(op, "saved.gate", saved.gate, Shape{n, 1, s.h(), s.w()});
}
}  // namespace detail

// Allocates the saved tensors for an input of shape (N, C, H, W).
template <class T, class D>
PsaSaved<T, D> psa_saved_for(Context<D>& ctx, const Shape& x) {
  const int64_t n = x.n(), c = x.c(), ch = c / 2;
  PsaSaved<T, D> s;
  s.q = Tensor<T, D>(Shape{n, 1, x.h(), x.w()}, ctx);
  s.yq = Tensor<T, D>(Shape{n, c}, ctx);
  s.z = Tensor<T, D>(Shape{n, ch}, ctx);
  s.ln_norm = Tensor<T, D>(Shape{n, c}, ctx);
  s.ln_rstd = Tensor<T, D>(Shape{n}, ctx);
  s.scale = Tensor<T, D>(Shape{n, c}, ctx);
  s.mean = Tensor<T, D>(Shape{n, c}, ctx);
  s.sq = Tensor<T, D>(Shape{n, ch}, ctx);
  s.u = Tensor<T, D>(Shape{n, c}, ctx);
  s.gate = Tensor<T, D>(Shape{n, 1, x.h(), x.w()}, ctx);
  return s;
}

template <class T, class D>
void psa_forward(Context<D>& ctx, const Tensor<T, D>& x,      // (N, C, H, W)
                 const PsaWeights<T, D>& p, Tensor<T, D>& y,  // (N, C, H, W), may be x
                 PsaSaved<T, D>& saved) {
  (void)ctx;
  detail::check_psa("psa_forward", x, p, saved);
  detail::check_same_shape("psa_forward", "x", x, "y", y);
  SRMDS_DISPATCH(D, cpu::psa_forward(x, p, y, saved), cuda::psa_forward(ctx, x, p, y, saved));
}

// dx is written with dx_mode; the twelve parameter gradients (g, shaped as p) with param_mode.
template <class T, class D>
void psa_backward(Context<D>& ctx, const Tensor<T, D>& x,  // (N, C, H, W) forward input
                  const Tensor<T, D>& dy,                  // (N, C, H, W)
                  const PsaWeights<T, D>& p, const PsaSaved<T, D>& saved, Tensor<T, D>& dx, WriteMode dx_mode,
                  const PsaGrads<T, D>& g, WriteMode param_mode) {
  (void)ctx;
  detail::check_psa("psa_backward", x, p, saved);
  detail::check_same_shape("psa_backward", "x", x, "dy", dy);
  detail::check_same_shape("psa_backward", "x", x, "dx", dx);
  const auto want = psa_param_shapes(x.shape().c()).items();
  const auto grads = g.items();
  for (size_t i = 0; i < grads.size(); ++i) {
    SRMDS_CHECK(grads[i] != nullptr, "psa_backward: gradient of " << kPsaParamNames[i] << " is missing");
    detail::check_shape("psa_backward", (std::string("d ") + kPsaParamNames[i]).c_str(), *grads[i], want[i]);
  }
  SRMDS_DISPATCH(D, cpu::psa_backward(x, dy, p, saved, dx, dx_mode, g, param_mode),
                 cuda::psa_backward(ctx, x, dy, p, saved, dx, dx_mode, g, param_mode));
}

}  // namespace srmds
