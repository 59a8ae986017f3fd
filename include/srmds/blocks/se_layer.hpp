// SeLayer<T, D>: squeeze-and-excitation attention of an SRFV block (SPEC §2), the same in the
// training and the fused form:  a = sigmoid(W2 ReLU(W1 mean_hw(x) + b1) + b2),  y = x a,
// hidden width h = max(C / r, 4); forward_relu() also applies the block's ReLU. Parameters:
// fc1.weight (h, C, 1, 1), fc1.bias (h), fc2.weight (C, h, 1, 1), fc2.bias (C), initialised
// PyTorch-default-like (uniform +-1/sqrt(fan_in)) from an Rng, or zero (ParamInit::by_shape()).
#pragma once

#include <string>

#include "srmds/blocks/params.hpp"
#include "srmds/blocks/scratch.hpp"
#include "srmds/ops/se.hpp"

namespace srmds {

template <class T, class D>
class SeLayer {
public:
  SeLayer() = default;
  SeLayer(Context<D>& ctx, int64_t channels, int64_t hidden, ParamInit init)
      : m_w1(init.uniform_fan_in<T>(ctx, Shape{hidden, channels, 1, 1}, static_cast<double>(channels))),
        m_b1(init.uniform_fan_in<T>(ctx, Shape{hidden}, static_cast<double>(channels))),
        m_w2(init.uniform_fan_in<T>(ctx, Shape{channels, hidden, 1, 1}, static_cast<double>(hidden))),
        m_b2(init.uniform_fan_in<T>(ctx, Shape{channels}, static_cast<double>(hidden))) {}

  int64_t channels() const { return m_w1.value.shape()[1]; }
  int64_t hidden() const { return m_w1.value.shape()[0]; }

  // y = x a; y must not alias x. Saves the squeeze, hidden and scale vectors for backward.
  void forward(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y) {  // (N, C, H, W)
    const Shape want{x.shape().n(), channels()};
    if (m_saved.mean.shape() != want) m_saved = se_saved_for<T, D>(ctx, x.shape(), hidden());
    se_forward(ctx, x, m_w1.value, m_b1.value, m_w2.value, m_b2.value, y, m_saved);
  }

  // y = ReLU(x a): SE then the block's ReLU in one op (ops/se.hpp se_relu_forward); y may be x
  // itself (in place), so blocks need no pre-SE temporary in eval mode.
  void forward_relu(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y) {  // (N, C, H, W)
    const Shape want{x.shape().n(), channels()};
    if (m_saved.mean.shape() != want) m_saved = se_saved_for<T, D>(ctx, x.shape(), hidden());
    se_relu_forward(ctx, x, m_w1.value, m_b1.value, m_w2.value, m_b2.value, y, m_saved);
  }

  // x is the forward input; dx written with dx_mode, parameter gradients with param_mode.
  void backward(Context<D>& ctx, const Tensor<T, D>& x, const Tensor<T, D>& dy, Tensor<T, D>& dx, WriteMode dx_mode,
                WriteMode param_mode) {
    se_backward(ctx, x, dy, m_w1.value, m_b1.value, m_w2.value, m_b2.value, m_saved, dx, dx_mode, m_w1.grad, m_b1.grad,
                m_w2.grad, m_b2.grad, param_mode);
  }

  void append_state(const std::string& prefix, StateList<T, D>& out) {  // prefix ends with "se."
    m_w1.append(prefix + "fc1.weight", out);
    m_b1.append(prefix + "fc1.bias", out);
    m_w2.append(prefix + "fc2.weight", out);
    m_b2.append(prefix + "fc2.bias", out);
  }

  // A copy of the parameters (gradients zero), e.g. for the fused form.
  SeLayer copy_params(Context<D>& ctx) const {
    SeLayer s;
    s.m_w1 = copy_param(ctx, m_w1);
    s.m_b1 = copy_param(ctx, m_b1);
    s.m_w2 = copy_param(ctx, m_w2);
    s.m_b2 = copy_param(ctx, m_b2);
    return s;
  }

private:
  Param<T, D> m_w1, m_b1, m_w2, m_b2;
  SeSaved<T, D> m_saved;
};

}  // namespace srmds
