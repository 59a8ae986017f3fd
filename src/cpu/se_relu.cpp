// SE followed by ReLU in one pass, one variant per ISA level (see include/srmds/cpu/se_relu.hpp,
// src/cpu/variant.hpp). The shapes are checked by the entry point (src/cpu/dispatch/entries.cpp).
#include "variant.hpp"

#include "se_squeeze_excite.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void se_relu_forward(const Tensor<T, Cpu>& x,                                                 // (N, C, H, W)
                     const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,                      // (Hd, C, 1, 1), (Hd)
                     const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2,                      // (C, Hd, 1, 1), (C)
                     Tensor<T, Cpu>& y,                                                       // (N, C, H, W), may be x
                     Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden, Tensor<T, Cpu>& scale) {  // (N, C), (N, Hd), (N, C)
  detail::se_squeeze_excite(x, w1, b1, w2, b2, mean, hidden, scale);
  detail::se_apply_scale<true>(x, scale, y);
}

SRMDS_CPU_INSTANTIATE(se_relu_forward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
