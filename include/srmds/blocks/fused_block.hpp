// FusedBlock<T, D>: the inference form of an SRFV block (SPEC §2),
//     y = ReLU( A( Conv3x3(x; K, B) ) )
// with K, B from reparam.hpp (SrfvBlock::fused) or loaded from a fused weight file. The attention A
// (blocks/attention.hpp: se, sge, cbam, psa) is kept as it is (or absent with attention: none). On
// the CPU the convolution is Winograd for Cin >= 16 (cpu/conv2d_winograd.hpp; float: F(4x4, 3x3)
// from 64 4x4 tiles per batch, e.g. 32 x 32 at batch 1; double: F(2x2, 3x3) for H W >= 64 x 64),
// and the attention + ReLU run in
// place. With set_precision(Bf16) (CPU, float) the convolution is a bf16 one (ops/conv2d_bf16.hpp:
// weights packed to bf16 once, fp32 accumulation): for Cin >= 16 the bf16 Winograd F(2x2, 3x3)
// (cpu/conv2d_winograd_bf16.hpp: transformed weights and inputs rounded to bf16), else the direct
// one (cpu/conv2d_bf16.hpp: weights and input rounded to bf16); the attention + ReLU stay fp32.
// State names (SPEC §6): fused.weight (Cout, Cin, 3, 3), fused.bias (Cout), se.fc1.*, se.fc2.* or
// att.* (sge, cbam, psa).
#pragma once

#include <string>
#include <type_traits>

#include "srmds/blocks/params.hpp"
#include "srmds/blocks/scratch.hpp"
#include "srmds/blocks/attention.hpp"
#include "srmds/cpu/conv2d_winograd.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/precision.hpp"
#include "srmds/ops/conv2d.hpp"
#include "srmds/ops/conv2d_bf16.hpp"
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
  Precision precision() const { return m_precision; }

  // The convolution in bf16 (float blocks on the CPU only; elsewhere srmds::Error) or back in fp32.
  // Bf16 packs the current weight: call it after the weights are final (loaded or fused), and again
  // after any change to them.
  void set_precision(Precision p) {
    if (p == Precision::Bf16) {
      if constexpr (kBf16Capable) {
        if (cin() >= cpu::kWinogradMinCin) {
          m_bf16w = cpu::pack_winograd3x3_bf16(m_weight.value);
          m_bf16 = cpu::Bf16Conv3x3Weights();
        } else {
          m_bf16 = cpu::pack_conv3x3_bf16(m_weight.value);
          m_bf16w = cpu::Bf16Winograd3x3Weights();
        }
      } else {
        SRMDS_THROW("FusedBlock: bf16 inference runs on the CPU with a float network only");
      }
    } else {
      m_bf16 = cpu::Bf16Conv3x3Weights();
      m_bf16w = cpu::Bf16Winograd3x3Weights();
    }
    m_precision = p;
  }

  // x (N, Cin, H, W) -> y (N, Cout, H, W); either may be a strided channel view. The convolution
  // writes y, then the attention and ReLU run in place on it (no temporary; `scratch` is not needed).
  // In bf16 the convolution's packed input lives in slot kSlotBf16 of `scratch`.
  void forward_eval(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y, Scratch<T, D>& scratch) {
    SRMDS_CHECK(x.shape().rank() == 4 && y.shape() == Shape({x.shape().n(), cout(), x.shape().h(), x.shape().w()}) &&
                    x.shape().c() == cin(),
                "FusedBlock::forward_eval: x " << x.shape() << " and y " << y.shape() << " for a block " << cin()
                                               << " -> " << cout());
    conv(ctx, x, y, scratch);
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
  static constexpr bool kBf16Capable = std::is_same_v<T, float> && std::is_same_v<D, Cpu>;
  // Scratch slot of the bf16 workspace (the SRFV blocks use 0..2 in eval mode and 0..5 in backward,
  // SrmdsNet's eval mode 8; fused blocks run in eval mode only).
  static constexpr int kSlotBf16 = 3;

  // y = Conv3x3(x; K, B): conv2d (on the CPU Winograd where conv2d_forward takes it, cpu/conv2d.hpp);
  // in bf16 the bf16 convolution.
  void conv(Context<D>& ctx, const Tensor<T, D>& x, Tensor<T, D>& y, Scratch<T, D>& scratch) {
    if constexpr (kBf16Capable) {
      if (m_precision == Precision::Bf16) {
        const Shape& s = x.shape();
        const bool wino = !m_bf16w.empty();
        const int64_t words = wino ? cpu::conv3x3_winograd_bf16_workspace(s.c(), cout(), s.n(), s.h(), s.w())
                                   : cpu::conv3x3_bf16_workspace(s.c(), s.h(), s.w());
        Tensor<float, Cpu> work = scratch.get(ctx, kSlotBf16, Shape{1, words, 1, 1});
        // The slot's float storage holds the packed 32-bit words (raw memory, only read as words).
        uint32_t* ws = reinterpret_cast<uint32_t*>(work.data());
        if (wino)
          conv3x3_winograd_bf16_forward(ctx, x, m_bf16w, &m_bias.value, y, ws, words);
        else
          conv3x3_bf16_forward(ctx, x, m_bf16, &m_bias.value, y, ws, words);
        return;
      }
    }
    (void)scratch;
    conv2d_forward(ctx, x, m_weight.value, &m_bias.value, y);
  }

  Param<T, D> m_weight, m_bias;
  AttentionLayer<T, D> m_att;
  Precision m_precision = Precision::Fp32;
  cpu::Bf16Conv3x3Weights m_bf16;        // while m_precision is Bf16 and Cin < cpu::kWinogradMinCin
  cpu::Bf16Winograd3x3Weights m_bf16w;   // while m_precision is Bf16 and Cin >= cpu::kWinogradMinCin
};

}  // namespace srmds
