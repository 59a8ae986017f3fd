// Precision of the fused network's inference (SrmdsNet::set_precision, `srmds segment/bench
// --precision`): fp32, or bf16 for the fused blocks' 3x3 convolutions on the CPU (weights and
// convolution inputs rounded to bf16, products accumulated in fp32: cpu/conv2d_bf16.hpp). In bf16
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
