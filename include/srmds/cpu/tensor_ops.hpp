// CPU fill, strided copy and axpy. See ops/tensor_ops.hpp.
#pragma once

#include <algorithm>
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

}  // namespace srmds::cpu
