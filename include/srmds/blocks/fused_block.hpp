// FusedBlock<T, D>: the inference form of an SRFV block (SPEC §2),
//     y = ReLU( A( Conv3x3(x; K, B) ) )
// with K, B from reparam.hpp (SrfvBlock::fused) or loaded from a fused weight file. The attention A
// (blocks/attention.hpp: se, sge, cbam, psa) is kept as it is (or absent with attention: none).
// The convolution is a PackedConv3x3 (blocks/packed_conv3x3.hpp: on the CPU the algorithm lists of
// cpu/conv2d_algo.hpp, Winograd for Cin >= 16 on large enough inputs; with set_precision(Bf16), CPU
// float only, a bf16 convolution packed once); the attention + ReLU run in place, in fp32.
// State names (SPEC §6): fused.weight (Cout, Cin, 3, 3), fused.bias (Cout), se.fc1.*, se.fc2.* or
// att.* (sge, cbam, psa).
#pragma once

#include <string>
#include <type_traits>

#include "srmds/blocks/attention.hpp"
#include "srmds/blocks/packed_conv3x3.hpp"
#include "srmds/blocks/params.hpp"
#include "srmds/blocks/scratch.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/precision.hpp"
#include "srmds/ops/relu.hpp"

namespace srmds {

template <class T, class D>
class FusedBlock {
public:
  // A freshly initialised fused block as PyTorch's nn.Conv2d(cin, cout, 3, bias=True): weight and
  // bias U(-1/sqrt(9 Cin), 1/sqrt(9 Cin)), then the attention (or every tensor zero, by shape only:
  // ParamInit::by_shape()).
  FusedBlock(Context<D>& ctx, const NetConfig& cfg, int64_t cin, int64_t cout, ParamInit init)
      : m_weight(init.conv_weight<T>(ctx, Shape{cout, cin, 3, 3})),
        m_bias(init.uniform_fan_in<T>(ctx, Shape{cout}, static_cast<double>(9 * cin))),
        m_att(cfg.attention == Attention::None ? AttentionLayer<T, D>() : AttentionLayer<T, D>(ctx, cfg, cout, init)) {
  }

  // From a fused kernel and bias (double) and the attention of the training form.
  FusedBlock(Context<D>& ctx, const reparam::ConvBias& conv, AttentionLayer<T, D> att)
      : m_weight(ctx, conv.weight), m_bias(ctx, conv.bias), m_att(std::move(att)) {
    SRMDS_CHECK(conv.weight.shape().rank() == 4 && conv.weight.shape()[2] == 3 && conv.weight.shape()[3] == 3 &&
                    conv.bias.shape() == Shape{conv.weight.shape()[0]},
                "FusedBlock: weight " << conv.weight.shape() << " and bias " << conv.bias.shape()
                                      << " are not a 3x3 convolution with bias");
  }

  int64_t cin() const { return m_weight.value.shape()[1]; }
  int64_t cout() const { return m_weight.value.shape()[0]; }
  bool has_se() const { return m_att.kind() == Attention::Se; }
  Attention attention() const { return m_att.kind(); }
  const Tensor<T, D>& weight() const { return m_weight.value; }  // (Cout, Cin, 3, 3)
  const Tensor<T, D>& bias() const { return m_bias.value; }      // (Cout)
  Precision precision() const { return m_conv.precision(); }

  // The convolution in bf16 (float blocks on the CPU only; elsewhere srmds::Error) or back in fp32.
  // Bf16 packs the current weight: call it after the weights are final (loaded or fused), and again
  // after any change to them.
  void set_precision(Precision p) { m_conv.pack(m_weight.value, p); }

  // x (N, Cin, H, W) -> y (N, Cout, H, W); either may be a strided channel view. The convolution
  // writes y, then the attention and ReLU run in place on it (no temporary); in bf16 the
  // convolution's workspace comes from `scratch`.
  void forward_eval(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y, Scratch<T, D>& scratch) {
    SRMDS_CHECK(x.shape().rank() == 4 && y.shape() == Shape({x.shape().n(), cout(), x.shape().h(), x.shape().w()}) &&
                    x.shape().c() == cin(),
                "FusedBlock::forward_eval: x " << x.shape() << " and y " << y.shape() << " for a block " << cin()
                                               << " -> " << cout());
    m_conv.forward(ctx, x, m_weight.value, m_bias.value, y, scratch);
    if (m_att.active())
      m_att.forward_relu(ctx, y, y);
    else
      relu_forward(ctx, y, y);
  }

  // prefix names the block and ends with '.', e.g. "enc0.b0.".
  void append_state(const std::string& prefix, StateList<T, D>& out) {
    m_weight.append(prefix + "fused.weight", out);
    m_bias.append(prefix + "fused.bias", out);
    m_att.append_state(prefix, out);
  }

private:
  Param<T, D> m_weight, m_bias;
  AttentionLayer<T, D> m_att;
  PackedConv3x3<T, D> m_conv;
};

}  // namespace srmds
