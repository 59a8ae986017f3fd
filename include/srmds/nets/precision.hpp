// Precision of the fused network's inference (SrmdsNet::set_precision, `srmds segment/bench
// --precision`): fp32, or bf16 for the fused blocks' 3x3 convolutions on the CPU (products of bf16
// operands accumulated in fp32: for Cin >= 16 Winograd F(2x2, 3x3) with the transformed weights and
// inputs rounded to bf16, cpu/conv2d_winograd_bf16.hpp; else the direct convolution with weights
// and inputs rounded to bf16, cpu/conv2d_bf16.hpp). In bf16
// the attention, ReLU, max-pool, upsampling, the 1x1 head and the sigmoid stay fp32; they act on the
// fp32 outputs of the bf16 convolutions, and each convolution rounds its input to bf16 again.
#pragma once

#include <string>

#include "srmds/core/error.hpp"

namespace srmds {

enum class Precision { Fp32, Bf16 };

inline const char* precision_name(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }

// "fp32" or "bf16"; anything else throws srmds::Error.
inline Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "bf16") return Precision::Bf16;
  SRMDS_THROW("precision '" << name << "' is not one of fp32, bf16");
}

}  // namespace srmds
