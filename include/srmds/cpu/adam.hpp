// CPU Adam update (reference and production path). See optim/adam.hpp; the per-element update is
// adam_update() in optim/adam_math.hpp, shared with the CUDA kernel.
#pragma once

#include <cmath>

#include "srmds/cpu/parallel.hpp"
#include "srmds/ops/math/adam.hpp"

namespace srmds::cpu {

template <class T>
void adam_step(Tensor<T, Cpu>& param, const Tensor<T, Cpu>& grad, Tensor<T, Cpu>& m, Tensor<T, Cpu>& v,
               const AdamStep& step) {
  for_each_run(
      [&step](int64_t n, T* p, const T* g, T* ms, T* vs) {
        using std::sqrt;
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; ++i) adam_update(p[i], g[i], ms[i], vs[i], step);
      },
      param, grad, m, v);
}

}  // namespace srmds::cpu
