// CPU squeeze-and-excitation followed by ReLU in one pass over the activations (forward only):
//   s[n, c] = mean_{h, w} x[n, c, h, w]
//   u = ReLU(W1 s + b1),  a = sigmoid(W2 u + b2)              (se_excitation, as cpu/se.hpp)
//   y[n, c, h, w] = max(x[n, c, h, w] a[n, c], 0)
// Equal to relu_forward(se_forward(x)) (the same float product, then the same max), but it reads
// x twice and writes y once instead of reading four and writing two planes, and y may be x
// itself (in place), so the SRFV blocks need no pre-SE temporary in eval mode. mean, hidden and
// scale are saved as se_forward saves them (SeSaved); both share detail::se_squeeze_excite.
#pragma once

#include "srmds/core/error.hpp"
#include "srmds/ops/math/scalar.hpp"
#include "srmds/cpu/parallel.hpp"
#include "srmds/cpu/se.hpp"

namespace srmds::cpu {

template <class T>
void se_relu_forward(const Tensor<T, Cpu>& x,                            // (N, C, H, W)
                     const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,  // (Hd, C, 1, 1), (Hd)
                     const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2,  // (C, Hd, 1, 1), (C)
                     Tensor<T, Cpu>& y,                                   // (N, C, H, W), may be x
                     Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden, Tensor<T, Cpu>& scale) {  // (N, C), (N, Hd), (N, C)
  const Shape& sx = x.shape();
  SRMDS_CHECK(sx.rank() == 4 && y.shape() == sx && w1.shape().rank() == 4 && w1.shape()[1] == sx.c() &&
                  w2.shape() == Shape({sx.c(), w1.shape()[0], 1, 1}) && b1.shape() == Shape{w1.shape()[0]} &&
                  b2.shape() == Shape{sx.c()} && mean.shape() == Shape({sx.n(), sx.c()}) &&
                  scale.shape() == mean.shape() && hidden.shape() == Shape({sx.n(), w1.shape()[0]}),
              "se_relu_forward: x " << sx << ", y " << y.shape() << ", fc1.weight " << w1.shape() << ", fc2.weight "
                                    << w2.shape() << ", mean " << mean.shape() << ", hidden " << hidden.shape()
                                    << " do not fit together");
  detail::se_squeeze_excite(x, w1, b1, w2, b2, mean, hidden, scale);
  detail::se_apply_scale<true>(x, scale, y);
}

}  // namespace srmds::cpu
