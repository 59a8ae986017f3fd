// PackedConv3x3<T, D>: a 3x3 convolution with bias (stride 1, padding 1) prepared once for
// repeated inference: the fused blocks' convolution. It owns the precision, the packed weights and
// the choice of algorithm; the caller owns the weight and bias tensors, and a Scratch lends the
// workspace.
//   fp32 / fp64, CPU or CUDA   conv2d_forward (ops/conv2d.hpp), which chooses per call (on the CPU
//                              from the lists of cpu/conv2d_algo.hpp; on CUDA cuDNN's search)
//   bf16 (CPU, float)          the packed-bf16 list (cpu/conv2d_algo.hpp): Winograd F(2x2, 3x3) for
//                              Cin >= 16 (cpu/conv2d_winograd_bf16.hpp), else the direct one
//                              (cpu/conv2d_bf16.hpp); weights packed to bf16 by pack(), fp32
//                              accumulation, the word workspace from Scratch::words()
#pragma once

#include <type_traits>

#include "srmds/blocks/scratch.hpp"
#include "srmds/cpu/conv2d_algo.hpp"
#include "srmds/nets/precision.hpp"
#include "srmds/ops/conv2d.hpp"
#include "srmds/ops/conv2d_bf16.hpp"

namespace srmds {

template <class T, class D>
class PackedConv3x3 {
public:
  // Prepares `weight` (Cout, Cin, 3, 3) for precision p. Bf16 packs the weight as it is now (call
  // again after any change to it) and exists for float on the CPU only (elsewhere srmds::Error).
  void pack(const Tensor<T, D>& weight, Precision p) {
    m_direct = cpu::Bf16Conv3x3Weights();
    m_winograd = cpu::Bf16Winograd3x3Weights();
    m_algo = cpu::ConvAlgo::Auto;
    if (p == Precision::Bf16) {
      if constexpr (kBf16Capable) {
        const Shape& k = weight.shape();
        m_algo = cpu::choose_conv_algo(cpu::ConvPass::PackedBf16, cpu::ConvProblem{Shape{1, k[1], 1, 1}, {k}, true});
        if (m_algo == cpu::ConvAlgo::WinogradF2x2)
          m_winograd = cpu::pack_winograd3x3_bf16(weight);
        else
          m_direct = cpu::pack_conv3x3_bf16(weight);
      } else {
        SRMDS_THROW("PackedConv3x3: bf16 inference runs on the CPU with a float network only");
      }
    }
    m_precision = p;
  }

  Precision precision() const { return m_precision; }
  // The bf16 algorithm chosen by pack() (winograd2 or direct); Auto in fp32 / fp64.
  cpu::ConvAlgo algo() const { return m_algo; }

  // y = conv(x, weight) + bias, x (N, Cin, H, W) and y (N, Cout, H, W) possibly strided channel
  // views; `weight` is the tensor given to pack().
  void forward(Context<D>& ctx, const Tensor<T, D>& x, const Tensor<T, D>& weight, const Tensor<T, D>& bias,
               Tensor<T, D>& y, Scratch<T, D>& scratch) const {
    if constexpr (kBf16Capable) {
      if (m_precision == Precision::Bf16) {
        const Shape& s = x.shape();
        const int64_t cout = weight.shape()[0];
        if (m_algo == cpu::ConvAlgo::WinogradF2x2) {
          const int64_t words = cpu::conv3x3_winograd_bf16_workspace(s.c(), cout, s.n(), s.h(), s.w());
          conv3x3_winograd_bf16_forward(ctx, x, m_winograd, &bias, y, scratch.words(words), words);
        } else {
          const int64_t words = cpu::conv3x3_bf16_workspace(s.c(), s.h(), s.w());
          conv3x3_bf16_forward(ctx, x, m_direct, &bias, y, scratch.words(words), words);
        }
        return;
      }
    }
    (void)scratch;
    conv2d_forward(ctx, x, weight, &bias, y);
  }

private:
  static constexpr bool kBf16Capable = std::is_same_v<T, float> && std::is_same_v<D, Cpu>;

  Precision m_precision = Precision::Fp32;
  cpu::ConvAlgo m_algo = cpu::ConvAlgo::Auto;
  cpu::Bf16Conv3x3Weights m_direct;       // bf16, algorithm direct
  cpu::Bf16Winograd3x3Weights m_winograd;  // bf16, algorithm winograd2
};

}  // namespace srmds
