// Adam / AdamW (SPEC §5), PyTorch's update rule. At step t = 1, 2, ... for every parameter p with
// gradient g (moments m, v start at zero):
//   L2 weight decay (default form):  g <- g + wd p                      (torch.optim.Adam)
//   decoupled weight decay:          p <- p - lr wd p                   (torch.optim.AdamW)
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// adam_step() is the checked elementwise op (ops/adam.hpp) and AdamOptions is defined once, in
// ops/math/adam.hpp; Adam holds the moments and the step counter. state() names the moments
// "optimizer.m.<name>" and "optimizer.v.<name>" so checkpoints can save and restore them (with
// step_count()).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "srmds/core/named_tensor.hpp"
#include "srmds/ops/adam.hpp"
#include "srmds/ops/tensor_ops.hpp"

namespace srmds {

// Sets the gradient of every parameter in the list to zero (buffers are skipped).
template <class T, class D>
void zero_grad(Context<D>& ctx, const StateList<T, D>& list) {
  for (const auto& e : list)
    if (e.grad) fill(ctx, *e.grad, T(0));
}

template <class T, class D>
class Adam {
public:
  // Keeps the entries of `list` that have a gradient; the tensors must outlive the optimizer.
  Adam(Context<D>& ctx, const StateList<T, D>& list, const AdamOptions& options = {}) : m_options(options) {
    SRMDS_CHECK(std::isfinite(options.lr) && options.lr >= 0, "Adam: lr " << options.lr << " must be >= 0");
    SRMDS_CHECK(options.beta1 >= 0 && options.beta1 < 1, "Adam: beta1 " << options.beta1 << " not in [0, 1)");
    SRMDS_CHECK(options.beta2 >= 0 && options.beta2 < 1, "Adam: beta2 " << options.beta2 << " not in [0, 1)");
    SRMDS_CHECK(std::isfinite(options.eps) && options.eps > 0, "Adam: eps " << options.eps << " must be finite and > 0");
    SRMDS_CHECK(std::isfinite(options.weight_decay) && options.weight_decay >= 0,
                "Adam: weight decay " << options.weight_decay << " must be finite and >= 0");
    for (const auto& e : list) {
      if (!e.is_parameter()) continue;
      SRMDS_CHECK(e.value != nullptr, "Adam: parameter " << e.name << " has no value tensor");
      detail::check_same_shape("Adam", (e.name + " value").c_str(), *e.value, "grad", *e.grad);
      m_params.push_back(e);
    }
    m_m.reserve(m_params.size());
    m_v.reserve(m_params.size());
    for (const auto& e : m_params) {
      m_m.emplace_back(e.value->shape(), ctx);
      m_v.emplace_back(e.value->shape(), ctx);
      fill(ctx, m_m.back(), T(0));
      fill(ctx, m_v.back(), T(0));
    }
  }
  Adam(const Adam&) = delete;
  Adam& operator=(const Adam&) = delete;
  Adam(Adam&&) noexcept = default;  // state() pointers stay valid: the moments do not move
  Adam& operator=(Adam&&) noexcept = default;

  // One update of every parameter with learning rate lr (e.g. from a schedule); t increases by one.
  void step(Context<D>& ctx, double lr) {
    const AdamStep s = next_step(lr);
    ++m_step;
    adam_step_all(ctx, slots(), s);  // one launch per kAdamTensorsPerLaunch tensors on the GPU
  }
  // The constants of the next update (t = step_count() + 1) with learning rate lr.
  AdamStep next_step(double lr) const {
    SRMDS_CHECK(std::isfinite(lr) && lr >= 0, "Adam::step: lr " << lr << " must be finite and >= 0");
    AdamStep s;
    static_cast<AdamOptions&>(s) = m_options;
    s.lr = lr;
    s.bias_correction1 = 1.0 - std::pow(m_options.beta1, static_cast<double>(m_step + 1));
    s.bias_correction2 = 1.0 - std::pow(m_options.beta2, static_cast<double>(m_step + 1));
    return s;
  }
  // For a captured step (train/trainer.hpp): queues the update of every parameter reading lr and the
  // bias corrections from `scalars` (kAdamDeviceScalars doubles on the context's device, e.g. written
  // from next_step() by a copy queued before each replay) when it runs. The step count is not
  // advanced: call advance() once for each update that runs (a graph replays this one many times).
  void queue_step(Context<D>& ctx, const Tensor<double, D>& scalars) {
    adam_step_all(ctx, slots(), next_step(m_options.lr), &scalars);
  }
  void advance() { ++m_step; }
  void step(Context<D>& ctx) { step(ctx, m_options.lr); }

  void zero_grad(Context<D>& ctx) { srmds::zero_grad(ctx, m_params); }

  // Number of updates applied so far (t of the last update); restore it with the moments.
  int64_t step_count() const { return m_step; }
  void set_step_count(int64_t t) {
    SRMDS_CHECK(t >= 0, "Adam::set_step_count: " << t << " < 0");
    m_step = t;
  }

  const AdamOptions& options() const { return m_options; }
  const StateList<T, D>& parameters() const { return m_params; }

  // The moments as buffers (grad == nullptr), in parameter order: all m, then all v.
  StateList<T, D> state() {
    StateList<T, D> out;
    for (size_t i = 0; i < m_params.size(); ++i) out.push_back({"optimizer.m." + m_params[i].name, &m_m[i], nullptr});
    for (size_t i = 0; i < m_params.size(); ++i) out.push_back({"optimizer.v." + m_params[i].name, &m_v[i], nullptr});
    return out;
  }

private:
  std::vector<AdamSlot<T, D>> slots() {
    std::vector<AdamSlot<T, D>> out;
    out.reserve(m_params.size());
    for (size_t i = 0; i < m_params.size(); ++i) out.push_back({m_params[i].value, m_params[i].grad, &m_m[i], &m_v[i]});
    return out;
  }

  AdamOptions m_options;
  StateList<T, D> m_params;
  std::vector<Tensor<T, D>> m_m, m_v;  // (shape of each parameter)
  int64_t m_step = 0;
};

}  // namespace srmds
