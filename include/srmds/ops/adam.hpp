// One Adam / AdamW update of a parameter tensor in place (SPEC §5, PyTorch's rule; per-element
// math adam_update() in ops/math/adam.hpp, shared with the CUDA kernel):
//   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,  p <- p - lr (m / c1) / (sqrt(v / c2) + eps)
// with weight decay as AdamStep says. The optimizer (moments per parameter, step counter) is
// optim/adam.hpp.
#pragma once

#include "srmds/cpu/adam.hpp"
#include "srmds/ops/dispatch.hpp"
#include "srmds/ops/math/adam.hpp"

namespace srmds {

// param, m and v updated in place from grad (all the same shape; any may be a strided view).
template <class T, class D>
void adam_step(Context<D>& ctx, Tensor<T, D>& param, const Tensor<T, D>& grad, Tensor<T, D>& m, Tensor<T, D>& v,
               const AdamStep& step) {
  (void)ctx;
  detail::check_same_shape("adam_step", "param", param, "grad", grad);
  detail::check_same_shape("adam_step", "param", param, "m", m);
  detail::check_same_shape("adam_step", "param", param, "v", v);
  SRMDS_CHECK(step.bias_correction1 > 0 && step.bias_correction2 > 0,
              "adam_step: bias corrections " << step.bias_correction1 << ", " << step.bias_correction2
                                             << " must be > 0 (step t >= 1)");
  SRMDS_DISPATCH(D, cpu::adam_step(param, grad, m, v, step), cuda::adam_step(ctx, param, grad, m, v, step));
}

}  // namespace srmds
