// sigmoid kernels, one variant per ISA level (see include/srmds/cpu/sigmoid.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include <cmath>

#include "srmds/ops/math/sigmoid.hpp"
#include "srmds/ops/math/scalar.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void sigmoid_forward(const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y) {
  for_each_run(
      [](int64_t n, const T* xs, T* ys) {
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; ++i) ys[i] = sigmoid_of(xs[i]);
      },
      x, y);
}

template <class T>
void sigmoid_backward(const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, WriteMode mode) {
  const bool acc = mode == WriteMode::Accumulate;
  for_each_run(
      [acc](int64_t n, const T* ys, const T* gs, T* ds) {
#pragma omp parallel for simd if (n > 65536)
        for (int64_t i = 0; i < n; ++i) {
          const T g = gs[i] * ys[i] * (T(1) - ys[i]);
          ds[i] = acc ? ds[i] + g : g;
        }
      },
      y, dy, dx);
}

SRMDS_CPU_INSTANTIATE(sigmoid_forward)
SRMDS_CPU_INSTANTIATE(sigmoid_backward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
