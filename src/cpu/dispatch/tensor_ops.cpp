// CPU fill, strided copy and axpy (see include/srmds/cpu/tensor_ops.hpp). Compiled once, not per
// ISA level: memory-bound, and memmove is already chosen per processor by the C library.
#include "srmds/cpu/tensor_ops.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu {

template <class T>
void fill(Tensor<T, Cpu>& t, T value) {
  for_each_run([value](int64_t n, T* p) { std::fill(p, p + n, value); }, t);
}

template <class T>
void copy(const Tensor<T, Cpu>& src, Tensor<T, Cpu>& dst) {
  for_each_run([](int64_t n, const T* s, T* d) { std::memmove(d, s, static_cast<size_t>(n) * sizeof(T)); }, src, dst);
}

template <class T>
void axpy(T alpha, const Tensor<T, Cpu>& x, Tensor<T, Cpu>& y) {
  for_each_run(
      [alpha](int64_t n, const T* xs, T* ys) {
#pragma omp parallel for simd if (n > 65536)
        for (int64_t i = 0; i < n; ++i) ys[i] += alpha * xs[i];
      },
      x, y);
}

template void fill<float>(Tensor<float, Cpu>&, float);
template void fill<double>(Tensor<double, Cpu>&, double);
template void fill<int32_t>(Tensor<int32_t, Cpu>&, int32_t);
template void fill<int64_t>(Tensor<int64_t, Cpu>&, int64_t);
template void copy<float>(const Tensor<float, Cpu>&, Tensor<float, Cpu>&);
template void copy<double>(const Tensor<double, Cpu>&, Tensor<double, Cpu>&);
template void copy<int32_t>(const Tensor<int32_t, Cpu>&, Tensor<int32_t, Cpu>&);
template void copy<int64_t>(const Tensor<int64_t, Cpu>&, Tensor<int64_t, Cpu>&);
template void axpy<float>(float, const Tensor<float, Cpu>&, Tensor<float, Cpu>&);
template void axpy<double>(double, const Tensor<double, Cpu>&, Tensor<double, Cpu>&);

}  // namespace srmds::cpu
