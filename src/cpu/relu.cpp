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

template <class T>
void relu_backward(const Tensor<T, Cpu>& y, const Tensor<T, Cpu>& dy, Tensor<T, Cpu>& dx, WriteMode mode) {
  const bool acc = mode == WriteMode::Accumulate;
  for_each_run(
      [acc](int64_t n, const T* ys, const T* gs, T* ds) {
#pragma omp parallel for simd if (n > 65536)
        for (int64_t i = 0; i < n; ++i) {
          const T g = ys[i] > T(0) ? gs[i] : T(0);
          ds[i] = acc ? ds[i] + g : g;
        }
      },
      y, dy, dx);
}

template <class T>
void register_relu(cpu::detail::Kernels<T>& k) {
  k.relu_forward = &relu_forward<T>;
  k.relu_backward = &relu_backward<T>;
}
SRMDS_CPU_REGISTER(relu)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
