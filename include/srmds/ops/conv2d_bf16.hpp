// bf16 3x3 convolution with fp32 accumulation (CPU only; math and layout: cpu/conv2d_bf16.hpp):
//   y[n, o, i, j] = b[o] + sum_{c, p, q} bf16(w[o, c, p, q]) * bf16(x[n, c, i + p - 1, j + q - 1])
// with w packed once by cpu::pack_conv3x3_bf16; and its Winograd F(2x2, 3x3) form, with the
// transformed weight and input rounded to bf16 (cpu/conv2d_winograd_bf16.hpp; w packed once by
// cpu::pack_winograd3x3_bf16). The fused blocks' bf16 inference path.
#pragma once

#include "srmds/core/context.hpp"
#include "srmds/cpu/conv2d_bf16.hpp"
#include "srmds/cpu/conv2d_winograd_bf16.hpp"

namespace srmds {

inline void conv3x3_bf16_forward(Context<Cpu>& ctx, const Tensor<float, Cpu>& x,  // (N, Cin, H, W)
                                 const cpu::Bf16Conv3x3Weights& w,              // (Cout, Cin, 3, 3) packed
                                 const Tensor<float, Cpu>* bias,                // (Cout) or nullptr
                                 Tensor<float, Cpu>& y,                         // (N, Cout, H, W)
                                 uint32_t* workspace,    // workspace_words words, or nullptr
                                 int64_t workspace_words) {  // see cpu::conv3x3_bf16_forward
  (void)ctx;
  cpu::conv3x3_bf16_forward(x, w, bias, y, workspace, workspace_words);
}

inline void conv3x3_winograd_bf16_forward(Context<Cpu>& ctx, const Tensor<float, Cpu>& x,  // (N, Cin, H, W)
                                          const cpu::Bf16Winograd3x3Weights& w,  // (Cout, Cin, 3, 3) packed
                                          const Tensor<float, Cpu>* bias,        // (Cout) or nullptr
                                          Tensor<float, Cpu>& y,                 // (N, Cout, H, W)
                                          uint32_t* workspace,  // workspace_words words, or nullptr
                                          int64_t workspace_words) {  // see cpu::conv3x3_winograd_bf16_forward
  (void)ctx;
  cpu::conv3x3_winograd_bf16_forward(x, w, bias, y, workspace, workspace_words);
}

}  // namespace srmds
