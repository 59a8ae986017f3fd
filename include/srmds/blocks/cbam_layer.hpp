// CbamLayer<T, D>: CBAM attention of an SRFV block (SPEC §2, ops/cbam.hpp), the same in the
// training and the fused form, hidden width h = max(C / r, 4) (r = se_reduction, 16 by default).
// Parameters initialised PyTorch-default (uniform +-1/sqrt(fan_in), weights and the bias):
//   att.fc1.weight (h, C, 1, 1), att.fc2.weight (C, h, 1, 1), att.spatial.weight (1, 2, 7, 7),
//   att.spatial.bias (1).
#pragma once

#include <string>

#include "srmds/blocks/params.hpp"
#include "srmds/ops/cbam.hpp"

namespace srmds {

template <class T, class D>
class CbamLayer {
 public:
  CbamLayer() = default;
  CbamLayer(Context<D>& ctx, int64_t channels, int64_t hidden, ParamInit init)
      : m_w1(init.conv_weight<T>(ctx, Shape{hidden, channels, 1, 1})),
        m_w2(init.conv_weight<T>(ctx, Shape{channels, hidden, 1, 1})),
        m_ws(init.conv_weight<T>(ctx, Shape{1, 2, kCbamKernel, kCbamKernel})),
        m_bs(init.uniform_fan_in<T>(ctx, Shape{1}, kCbamTaps)) {}

  int64_t channels() const { return m_w1.value.shape()[1]; }
  int64_t hidden() const { return m_w1.value.shape()[0]; }

  // y = CBAM(x); y may be x (in place) when no backward follows.
  void forward(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y) {  // (N, C, H, W)
    const Shape& s = x.shape();
    if (m_saved.gate.shape() != Shape({s.n(), 1, s.h(), s.w()}) || m_saved.avg.shape() != Shape({s.n(), s.c()}))
      m_saved = cbam_saved_for<T, D>(ctx, s, hidden());
    cbam_forward(ctx, x, m_w1.value, m_w2.value, m_ws.value, m_bs.value, y, m_saved);
  }

  void backward(Context<D>& ctx, const Tensor<T, D>& x, const Tensor<T, D>& dy, Tensor<T, D>& dx, WriteMode dx_mode,
                WriteMode param_mode) {
    cbam_backward(ctx, x, dy, m_w1.value, m_w2.value, m_ws.value, m_bs.value, m_saved, dx, dx_mode, m_w1.grad,
                  m_w2.grad, m_ws.grad, m_bs.grad, param_mode);
  }

  void append_state(const std::string& prefix, StateList<T, D>& out) {  // prefix ends with "att."
    m_w1.append(prefix + "fc1.weight", out);
    m_w2.append(prefix + "fc2.weight", out);
    m_ws.append(prefix + "spatial.weight", out);
    m_bs.append(prefix + "spatial.bias", out);
  }

  CbamLayer copy_params(Context<D>& ctx) const {
    CbamLayer s;
    s.m_w1 = copy_param(ctx, m_w1);
    s.m_w2 = copy_param(ctx, m_w2);
    s.m_ws = copy_param(ctx, m_ws);
    s.m_bs = copy_param(ctx, m_bs);
    return s;
  }

 private:
  Param<T, D> m_w1, m_w2, m_ws, m_bs;
  CbamSaved<T, D> m_saved;
};

}  // namespace srmds
