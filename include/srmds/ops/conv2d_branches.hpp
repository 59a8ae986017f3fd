// Convolutions of one input with several kernels: the conv branches of an SRFV block (3x3, 1x3, 3x1,
// 1x1, stride 1, same padding, no bias), each as ops/conv2d.hpp defines it:
//   forward          y_b = conv(x, w_b)                          for every branch b
//   backward data    dx (+)= sum_b conv_transposed(dy_b, w_b)    (one write of dx)
//   backward filter  dw_b (+)= the filter gradient of branch b   (parameter WriteMode)
// Every w_b is (Cout, Cin, kh_b, kw_b) with the same Cout and Cin. On the CPU in float the forward
// and the filter gradient share one Winograd F(4x4, 3x3) pass where cpu/conv2d_branches.hpp takes
// it; otherwise, and on CUDA, each branch is one convolution of ops/conv2d.hpp.
#pragma once

#include <vector>

#include "srmds/cpu/conv2d_branches.hpp"
#include "srmds/ops/conv2d.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

namespace detail {
// Every branch's kernel against x (N, Cin, H, W) and its output (N, Cout, H, W).
template <class T, class D, class W, class Y>
void check_conv2d_branches(const char* op, const Tensor<T, D>& x, const std::vector<W*>& w, const std::vector<Y*>& y) {
  SRMDS_CHECK(!w.empty() && w.size() == y.size(),
              op << ": " << w.size() << " kernels for " << y.size() << " outputs (one each, at least one)");
  for (size_t b = 0; b < w.size(); ++b) {
    SRMDS_CHECK(w[b] && y[b], op << ": branch " << b << " has no tensor");
    check_conv2d(op, x, *w[b], *y[b]);
    SRMDS_CHECK(w[b]->shape()[0] == w[0]->shape()[0],
                op << ": branch " << b << " kernel " << w[b]->shape() << " differs in Cout from " << w[0]->shape());
  }
}

template <class P>
std::vector<Shape> kernel_shapes(const std::vector<P>& w) {
  std::vector<Shape> s;
  for (const auto* t : w) s.push_back(t->shape());
  return s;
}
}  // namespace detail

template <class T, class D>
void conv2d_branches_forward(Context<D>& ctx, const Tensor<T, D>& x,   // (N, Cin, H, W)
                             const std::vector<const Tensor<T, D>*>& w,  // (Cout, Cin, kh_b, kw_b) each
                             const std::vector<Tensor<T, D>*>& y) {      // (N, Cout, H, W) each
  detail::check_conv2d_branches("conv2d_branches_forward", x, w, y);
  if constexpr (is_cpu_v<D>) {
    if (cpu::conv2d_branches_take_winograd<T>(x.shape(), detail::kernel_shapes(w))) {
      cpu::conv2d_branches_winograd_forward(x, w, y);
      return;
    }
  }
  for (size_t b = 0; b < w.size(); ++b) conv2d_forward(ctx, x, *w[b], nullptr, *y[b]);
}

template <class T, class D>
void conv2d_branches_backward_data(Context<D>& ctx, const std::vector<const Tensor<T, D>*>& dy,  // (N, Cout, H, W) each
                                   const std::vector<const Tensor<T, D>*>& w,  // (Cout, Cin, kh_b, kw_b) each
                                   Tensor<T, D>& dx,                           // (N, Cin, H, W)
                                   WriteMode mode) {
  detail::check_conv2d_branches("conv2d_branches_backward_data", dx, w, dy);
  for (size_t b = 0; b < w.size(); ++b)
    conv2d_backward_data(ctx, *dy[b], *w[b], dx, b == 0 ? mode : WriteMode::Accumulate);
}

template <class T, class D>
void conv2d_branches_backward_filter(Context<D>& ctx, const Tensor<T, D>& x,       // (N, Cin, H, W)
                                     const std::vector<const Tensor<T, D>*>& dy,  // (N, Cout, H, W) each
                                     const std::vector<Tensor<T, D>*>& dw,        // (Cout, Cin, kh_b, kw_b) each
                                     WriteMode mode) {
  detail::check_conv2d_branches("conv2d_branches_backward_filter", x, dw, dy);
  if constexpr (is_cpu_v<D>) {
    bool contiguous = true;
    for (const auto* t : dw) contiguous = contiguous && t->is_contiguous();
    if (contiguous && cpu::conv2d_branches_take_winograd<T>(x.shape(), detail::kernel_shapes(dw))) {
      cpu::conv2d_branches_winograd_backward_filter(x, dy, dw, mode == WriteMode::Accumulate);
      return;
    }
  }
  for (size_t b = 0; b < dw.size(); ++b) conv2d_backward_filter(ctx, x, *dy[b], *dw[b], mode);
}

}  // namespace srmds
