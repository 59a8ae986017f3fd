// Adam update kernel, one variant per ISA level (see include/srmds/cpu/adam.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include "srmds/cpu/parallel.hpp"
#include "srmds/ops/math/adam.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void adam_step(Tensor<T, Cpu>& param, const Tensor<T, Cpu>& grad, Tensor<T, Cpu>& m, Tensor<T, Cpu>& v,
               const AdamStep& step) {
  for_each_run(
      [&step](int64_t n, T* p, const T* g, T* ms, T* vs) {
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; ++i) adam_update(p[i], g[i], ms[i], vs[i], step);
      },
      param, grad, m, v);
}

SRMDS_CPU_INSTANTIATE(adam_step)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
