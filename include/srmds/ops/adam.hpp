// One Adam / AdamW update of a parameter tensor in place (SPEC §5, PyTorch's rule; per-element
// math adam_update() in ops/math/adam.hpp, shared with the CUDA kernel):
//   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,  p <- p - lr (m / c1) / (sqrt(v / c2) + eps)
// with weight decay as AdamStep says. The optimizer (moments per parameter, step counter) is
// optim/adam.hpp.
//
// adam_step_all updates a list of parameters in one call: on the GPU one kernel launch per
// kAdamTensorsPerLaunch tensors (the pointers travel in the kernel's parameters: no upload, no
// host wait), instead of one launch per tensor; the result is the same, element for element. Given
// `scalars` (kAdamDeviceScalars doubles on the device: lr, bias_correction1, bias_correction2) the
// update reads those from memory when it runs instead of taking step's (a CUDA Graph's replays each
// see the values copied in before them; train/trainer.hpp); the other options still come from step.
#pragma once

#include <string>
#include <vector>

#include "srmds/cpu/adam.hpp"
#include "srmds/ops/dispatch.hpp"
#include "srmds/ops/math/adam.hpp"

namespace srmds {

namespace detail {

template <class T, class D>
void check_adam_tensors(const char* op, const Tensor<T, D>& param, const Tensor<T, D>& grad, const Tensor<T, D>& m,
                        const Tensor<T, D>& v) {
  check_same_shape(op, "param", param, "grad", grad);
  check_same_shape(op, "param", param, "m", m);
  check_same_shape(op, "param", param, "v", v);
}

inline void check_adam_step(const char* op, const AdamStep& step) {
  SRMDS_CHECK(step.bias_correction1 > 0 && step.bias_correction2 > 0,
              op << ": bias corrections " << step.bias_correction1 << ", " << step.bias_correction2
                 << " must be > 0 (step t >= 1)");
}

}  // namespace detail

// param, m and v updated in place from grad (all the same shape; any may be a strided view).
template <class T, class D>
void adam_step(Context<D>& ctx, Tensor<T, D>& param, const Tensor<T, D>& grad, Tensor<T, D>& m, Tensor<T, D>& v,
               const AdamStep& step) {
  (void)ctx;
  detail::check_adam_tensors("adam_step", param, grad, m, v);
  detail::check_adam_step("adam_step", step);
  SRMDS_DISPATCH(D, cpu::adam_step(param, grad, m, v, step), cuda::adam_step(ctx, param, grad, m, v, step));
}

// One parameter of adam_step_all and its gradient and moments.
template <class T, class D>
struct AdamSlot {
  Tensor<T, D>* param;
  const Tensor<T, D>* grad;
  Tensor<T, D>* m;
  Tensor<T, D>* v;
};

// adam_step on every slot. On the GPU every tensor must be contiguous (the optimizer's are).
template <class T, class D>
void adam_step_all(Context<D>& ctx, const std::vector<AdamSlot<T, D>>& slots, const AdamStep& step,
                   const Tensor<double, D>* scalars = nullptr) {
  (void)ctx;
  detail::check_adam_step("adam_step_all", step);
  if (scalars)
    SRMDS_CHECK(scalars->numel() == kAdamDeviceScalars && scalars->is_contiguous(),
                "adam_step_all: the step's scalars " << scalars->shape() << " must be " << kAdamDeviceScalars
                                                     << " contiguous doubles");
  for (size_t i = 0; i < slots.size(); ++i) {
    const AdamSlot<T, D>& s = slots[i];
    const std::string op = "adam_step_all (tensor " + std::to_string(i) + ")";
    SRMDS_CHECK(s.param && s.grad && s.m && s.v, op << ": a null tensor");
    detail::check_adam_tensors(op.c_str(), *s.param, *s.grad, *s.m, *s.v);
  }
  if constexpr (is_cpu_v<D>) {
    AdamStep now = step;
    if (scalars) set_step_scalars(now, scalars->data());  // read when the update runs, as on the GPU
    for (const AdamSlot<T, D>& s : slots) cpu::adam_step(*s.param, *s.grad, *s.m, *s.v, now);
  } else {
#if SRMDS_WITH_CUDA
    std::vector<cuda::AdamTensors> list;
    list.reserve(slots.size());
    for (const AdamSlot<T, D>& s : slots) list.push_back({s.param, s.grad, s.m, s.v});
    cuda::adam_step_all(ctx, list, step, scalars ? scalars->data() : nullptr);
#else
    static_assert(is_cpu_v<D>, "srmds was built without the CUDA backend");
#endif
  }
}

}  // namespace srmds
