// AttentionLayer<T, D>: the attention of an SRFV block (SPEC §2), one of
//   se    squeeze-and-excitation  (SeLayer,   state under <block>.se.)
//   sge   spatial group-wise enhance (SgeLayer, under <block>.att.)
//   cbam  CBAM                    (CbamLayer, under <block>.att.)
//   psa   polarized self-attention (PsaLayer, under <block>.att.)
//   none  identity
// It sits after the branch sum and before the ReLU, in the training form and unchanged in the
// fused form. forward_relu() computes y = ReLU(A(x)) and saves what backward() needs; backward()
// differentiates A only (the block differentiates the ReLU from its output).
#pragma once

#include <string>

#include "srmds/blocks/cbam_layer.hpp"
#include "srmds/blocks/psa_layer.hpp"
#include "srmds/blocks/se_layer.hpp"
#include "srmds/blocks/sge_layer.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/ops/relu.hpp"

namespace srmds {

template <class T, class D>
class AttentionLayer {
 public:
  AttentionLayer() = default;  // attention: none

  // Parameters per SPEC §5 (see the layer headers) for a block with `channels` outputs.
  // With ParamInit::by_shape() every tensor is allocated by shape without drawing a number.
  AttentionLayer(Context<D>& ctx, const NetConfig& cfg, int64_t channels, ParamInit init) : m_kind(cfg.attention) {
    const int64_t hidden = cfg.se_hidden(static_cast<int>(channels));
    switch (m_kind) {
      case Attention::Se:
        m_se = SeLayer<T, D>(ctx, channels, hidden, init);
        break;
      case Attention::Sge:
        m_sge = SgeLayer<T, D>(ctx, channels);
        break;
      case Attention::Cbam:
        m_cbam = CbamLayer<T, D>(ctx, channels, hidden, init);
        break;
      case Attention::Psa:
        m_psa = PsaLayer<T, D>(ctx, channels, init);
        break;
      case Attention::None:
        break;
    }
  }

  Attention kind() const { return m_kind; }
  bool active() const { return m_kind != Attention::None; }

  // y = ReLU(A(x)) (N, C, H, W). y may be x (in place); otherwise they must not overlap.
  void forward_relu(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y) {
    switch (m_kind) {
      case Attention::Se:
        m_se.forward_relu(ctx, x, y);
        return;
      case Attention::Sge:
        m_sge.forward(ctx, x, y);
        break;
      case Attention::Cbam:
        m_cbam.forward(ctx, x, y);
        break;
      case Attention::Psa:
        m_psa.forward(ctx, x, y);
        break;
      case Attention::None:
        if (x.data() != y.data()) copy(ctx, x, y);
        break;
    }
    relu_forward(ctx, y, y);
  }

  // dx = A'(x)^T dy (dx_mode), parameter gradients with param_mode; x is the forward input.
  void backward(Context<D>& ctx, const Tensor<T, D>& x, const Tensor<T, D>& dy, Tensor<T, D>& dx, WriteMode dx_mode,
                WriteMode param_mode) {
    switch (m_kind) {
      case Attention::Se:
        m_se.backward(ctx, x, dy, dx, dx_mode, param_mode);
        break;
      case Attention::Sge:
        m_sge.backward(ctx, x, dy, dx, dx_mode, param_mode);
        break;
      case Attention::Cbam:
        m_cbam.backward(ctx, x, dy, dx, dx_mode, param_mode);
        break;
      case Attention::Psa:
        m_psa.backward(ctx, x, dy, dx, dx_mode, param_mode);
        break;
      case Attention::None:
        if (dx_mode == WriteMode::Overwrite)
          copy(ctx, dy, dx);
        else
          axpy(ctx, T(1), dy, dx);
        break;
    }
  }

  // prefix names the block and ends with '.', e.g. "enc0.b0.".
  void append_state(const std::string& prefix, StateList<T, D>& out) {
    switch (m_kind) {
      case Attention::Se:
        m_se.append_state(prefix + "se.", out);
        break;
      case Attention::Sge:
        m_sge.append_state(prefix + "att.", out);
        break;
      case Attention::Cbam:
        m_cbam.append_state(prefix + "att.", out);
        break;
      case Attention::Psa:
        m_psa.append_state(prefix + "att.", out);
        break;
      case Attention::None:
        break;
    }
  }

  // A copy of the parameters (gradients zero), for the fused form.
  AttentionLayer copy_params(Context<D>& ctx) const {
    AttentionLayer a;
    a.m_kind = m_kind;
    switch (m_kind) {
      case Attention::Se:
        a.m_se = m_se.copy_params(ctx);
        break;
      case Attention::Sge:
        a.m_sge = m_sge.copy_params(ctx);
        break;
      case Attention::Cbam:
        a.m_cbam = m_cbam.copy_params(ctx);
        break;
      case Attention::Psa:
        a.m_psa = m_psa.copy_params(ctx);
        break;
      case Attention::None:
        break;
    }
    return a;
  }

 private:
  Attention m_kind = Attention::None;
  SeLayer<T, D> m_se;
  SgeLayer<T, D> m_sge;
  CbamLayer<T, D> m_cbam;
  PsaLayer<T, D> m_psa;
};

}  // namespace srmds
