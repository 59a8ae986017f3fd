// PsaLayer<T, D>: polarized self-attention (parallel form) of an SRFV block (SPEC §2,
// ops/psa.hpp), the same in the training and the fused form, C >= 2, Ch = C / 2. The five 1x1
// convolutions are initialised PyTorch-default (weight and bias uniform +-1/sqrt(fan_in)), the
// LayerNorm with weight 1 and bias 0. State names after the block prefix, PsaSet order:
//   att.ch_wv.{weight,bias}, att.ch_wq.*, att.ch_wz.*, att.ch_ln.*, att.sp_wv.*, att.sp_wq.*
#pragma once

#include <array>
#include <string>

#include "srmds/blocks/params.hpp"
#include "srmds/ops/psa.hpp"

namespace srmds {

template <class T, class D>
class PsaLayer {
 public:
  PsaLayer() = default;
  // The attention layers' common constructor (blocks/attention.hpp): PSA has no hidden width.
  PsaLayer(Context<D>& ctx, int64_t channels, int64_t /*hidden*/, ParamInit init) {
    SRMDS_CHECK(channels >= 2, "PsaLayer: needs at least 2 channels, got " << channels);
    const auto shapes = psa_param_shapes(channels).items();
    for (size_t i = 0; i < m_params.size(); ++i) {
      const Shape& s = shapes[i];
      if (i == kLnWeight || i == kLnBias) {
        Tensor<double, Cpu> h(s);
        for (int64_t k = 0; k < h.numel(); ++k) h[k] = i == kLnWeight ? 1.0 : 0.0;
        m_params[i] = Param<T, D>(ctx, h);
      } else {
        // weight (cout, cin, 1, 1) then its bias (cout): fan_in = cin of that weight
        const Shape& w = shapes[i % 2 == 0 ? i : i - 1];
        m_params[i] =
            i % 2 == 0 ? init.conv_weight<T>(ctx, s) : init.uniform_fan_in<T>(ctx, s, static_cast<double>(w[1]));
      }
    }
  }

  int64_t channels() const { return m_params[kLnWeight].value.numel(); }

  // y = PSA(x); y may be x (in place) when no backward follows.
  void forward(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y) {  // (N, C, H, W)
    const Shape& s = x.shape();
    if (m_saved.gate.shape() != Shape({s.n(), 1, s.h(), s.w()}) || m_saved.mean.shape() != Shape({s.n(), s.c()}))
      m_saved = psa_saved_for<T, D>(ctx, s);
    psa_forward(ctx, x, weights(), y, m_saved);
  }

  void backward(Context<D>& ctx, const Tensor<T, D>& x, const Tensor<T, D>& dy, Tensor<T, D>& dx, WriteMode dx_mode,
                WriteMode param_mode) {
    psa_backward(ctx, x, dy, weights(), m_saved, dx, dx_mode, grads(), param_mode);
  }

  void append_state(const std::string& prefix, StateList<T, D>& out) {  // prefix ends with "att."
    for (size_t i = 0; i < m_params.size(); ++i) m_params[i].append(prefix + kPsaParamNames[i], out);
  }

  PsaLayer copy_params(Context<D>& ctx) const {
    PsaLayer s;
    for (size_t i = 0; i < m_params.size(); ++i) s.m_params[i] = copy_param(ctx, m_params[i]);
    return s;
  }

 private:
  static constexpr size_t kLnWeight = 6, kLnBias = 7;  // PsaSet order

  PsaWeights<T, D> weights() const {
    const auto v = [this](size_t i) { return &m_params[i].value; };
    return {v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9), v(10), v(11)};
  }
  PsaGrads<T, D> grads() {
    const auto g = [this](size_t i) { return &m_params[i].grad; };
    return {g(0), g(1), g(2), g(3), g(4), g(5), g(6), g(7), g(8), g(9), g(10), g(11)};
  }

  std::array<Param<T, D>, 12> m_params;
  PsaSaved<T, D> m_saved;
};

}  // namespace srmds
