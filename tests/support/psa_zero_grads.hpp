// PSA's parameter gradients that are zero up to rounding, for the gradient checks of both backends
// (tests/test_psa.cpp, tests/cuda/test_cuda_psa.cpp). Such a gradient is rounding noise: neither a
// finite difference nor a bound relative to itself checks anything, so both tests hold it to an
// absolute bound scaled by the op's other gradients (the rule in tests/cuda/parity.hpp).
//   ch_wq.bias    shifts every logit of the softmax over positions alike: always zero;
//   ch_wq.weight  with one position (H W = 1) that softmax is 1: zero;
//   sp_wq.*       with one channel in the spatial softmax (C / 2 = 1) q' = 1: zero.
#pragma once

#include <string>

#include "srmds/core/shape.hpp"

namespace srmds::test {

inline bool psa_grad_is_zero(const std::string& name, const Shape& x) {
  if (name == "ch_wq.bias") return true;
  if (name == "ch_wq.weight") return x.h() * x.w() == 1;
  if (name == "sp_wq.weight" || name == "sp_wq.bias") return x.c() / 2 == 1;
  return false;
}

}  // namespace srmds::test
