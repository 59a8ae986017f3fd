// Threading and strided-run helpers for the CPU backend. Threads come from OpenMP; Eigen's GEMM
// uses the same pool.
#pragma once

#include <cstdint>

#include "srmds/core/tensor.hpp"

namespace srmds::cpu {

// Calls f(i) for i in [0, n), in parallel when n * work_per_item is large enough to pay for it.
template <class F>
void parallel_for(int64_t n, F&& f, int64_t work_per_item = 1) {
#pragma omp parallel for schedule(static) if (n * work_per_item > 32768)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// Calls f(len, p0, p1, ...) over the contiguous runs shared by same-shape tensors t0, t1, ...:
// one run for contiguous tensors, one per sample when any of them is a strided channel view.
template <class F, class T0, class... Ts>
void for_each_run(F&& f, T0& t0, Ts&... ts) {
  const Shape& s = t0.shape();
  if (t0.numel() == 0) return;  // no run (an empty tensor's data may be null)
  const bool contiguous = t0.is_contiguous() && (ts.is_contiguous() && ...);
  if (contiguous || s.rank() < 4) {
    f(t0.numel(), t0.data(), ts.data()...);
  } else {
    const int64_t len = t0.sample_numel();
    for (int64_t n = 0; n < s.n(); ++n) f(len, t0.sample(n), ts.sample(n)...);
  }
}

// out = v or out += v.
template <class T>
inline void write(T& out, T v, WriteMode mode) {
  if (mode == WriteMode::Overwrite)
    out = v;
  else
    out += v;
}

}  // namespace srmds::cpu
