// SgeLayer<T, D>: spatial group-wise enhance attention of an SRFV block (SPEC §2, ops/sge.hpp),
// the same in the training and the fused form, G = min(8, C) groups (C must be a multiple of G).
// Parameters: weight, bias (1, G, 1, 1), initialised 0 and 1 (the reference's initialisation:
// every gate starts at sigmoid(1)). State names after the block prefix: att.weight, att.bias.
#pragma once

#include <string>

#include "srmds/blocks/params.hpp"
#include "srmds/ops/math/sge.hpp"
#include "srmds/ops/sge.hpp"

namespace srmds {

template <class T, class D>
class SgeLayer {
 public:
  SgeLayer() = default;
  // The attention layers' common constructor (blocks/attention.hpp): SGE has no hidden width and
  // fixed initial values.
  SgeLayer(Context<D>& ctx, int64_t channels, int64_t /*hidden*/, ParamInit /*init*/)
      : m_weight(ctx, filled(Shape{1, groups_for(channels), 1, 1}, 0.0)),
        m_bias(ctx, filled(Shape{1, groups_for(channels), 1, 1}, 1.0)) {}

  static int64_t groups_for(int64_t channels) {
    const int64_t g = sge_groups(static_cast<int>(channels));
    SRMDS_CHECK(channels > 0 && channels % g == 0,
                "SgeLayer: " << channels << " channels are not a multiple of its " << g << " groups");
    return g;
  }
  int64_t groups() const { return m_weight.value.shape()[1]; }

  // y = SGE(x); y may be x (in place) when no backward follows.
  void forward(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y) {  // (N, C, H, W)
    const Shape& s = x.shape();
    if (m_saved.norm.shape() != Shape({s.n(), groups(), s.h(), s.w()}) || m_saved.mean.shape() != Shape({s.n(), s.c()}))
      m_saved = sge_saved_for<T, D>(ctx, s, groups());
    sge_forward(ctx, x, m_weight.value, m_bias.value, y, m_saved);
  }

  // x is the forward input; dx written with dx_mode, parameter gradients with param_mode.
  void backward(Context<D>& ctx, const Tensor<T, D>& x, const Tensor<T, D>& dy, Tensor<T, D>& dx, WriteMode dx_mode,
                WriteMode param_mode) {
    sge_backward(ctx, x, dy, m_weight.value, m_bias.value, m_saved, dx, dx_mode, m_weight.grad, m_bias.grad,
                 param_mode);
  }

  void append_state(const std::string& prefix, StateList<T, D>& out) {  // prefix ends with "att."
    m_weight.append(prefix + "weight", out);
    m_bias.append(prefix + "bias", out);
  }

  SgeLayer copy_params(Context<D>& ctx) const {
    SgeLayer s;
    s.m_weight = copy_param(ctx, m_weight);
    s.m_bias = copy_param(ctx, m_bias);
    return s;
  }

 private:
  static Tensor<double, Cpu> filled(const Shape& s, double v) {
    Tensor<double, Cpu> h(s);
    for (int64_t i = 0; i < h.numel(); ++i) h[i] = v;
    return h;
  }

  Param<T, D> m_weight, m_bias;
  SgeSaved<T, D> m_saved;
};

}  // namespace srmds
