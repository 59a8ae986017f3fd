// relu kernels, one variant per ISA level (see include/srmds/cpu/relu.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include "srmds/ops/math/scalar.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void relu_forward(const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y) {
  for_each_run(
      [](int64_t n, const T* xs, T* ys) {
#pragma omp parallel for simd if (n > 65536)
        for (int64_t i = 0; i < n; ++i) ys[i] = math::relu(xs[i]);
      },
      x, y);
}

// Both operands loaded unconditionally and the write mode decided outside the loop, so that the
// loop vectorises into a compare and a blend (a branch per element on the sign of y, as GCC emitted
// for a conditional load, costs ~10x on random signs).
template <class T>
void relu_backward(const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, WriteMode mode) {
  const bool acc = mode == WriteMode::Accumulate;
  for_each_run(
      [acc](int64_t n, const T* ys, const T* gs, T* ds) {
        if (acc) {
#pragma omp parallel for simd if (n > 65536)
          for (int64_t i = 0; i < n; ++i) {
            const T g = gs[i], v = ys[i];
            ds[i] += v > T(0) ? g : T(0);
          }
        } else {
#pragma omp parallel for simd if (n > 65536)
          for (int64_t i = 0; i < n; ++i) {
            const T g = gs[i], v = ys[i];
            ds[i] = v > T(0) ? g : T(0);
          }
        }
      },
      y, dy, dx);
}

SRMDS_CPU_INSTANTIATE(relu_forward)
SRMDS_CPU_INSTANTIATE(relu_backward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
