// Bands in parallel, each thread in its own slice of a workspace: the loop of every banded CPU
// convolution kernel (conv2d.cpp, conv2d_bf16.cpp, conv2d_winograd.cpp, conv2d_winograd_bf16.cpp,
// conv2d_winograd4.cpp, conv2d_branches.cpp). A unit is a band (of image rows or tile rows); thread
// t works in workspace + t per_thread. Two schedules:
//   for_each_band  units handed out one at a time as threads come free (schedule(dynamic, 1));
//   sum_over_bands each thread sums its fixed share of the units into an accumulator of its own,
//                  added in thread order (reproducible for a thread count): the filter gradients.
// Internal to the kernels: one copy per ISA variant.
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "srmds/core/buffer.hpp"
#include "variant.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA::detail {

inline int conv_max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int conv_thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Scratch of `per_thread` elements for each of `threads` threads.
template <class T>
class ThreadScratch {
public:
  ThreadScratch(int threads, int64_t per_thread)
      : m_per_thread(per_thread),
        m_buffer(host_buffer(static_cast<size_t>(std::max(threads, 0)) * static_cast<size_t>(per_thread) *
                             sizeof(T))) {}
  T* get(int thread) { return static_cast<T*>(m_buffer.get()) + thread * m_per_thread; }

private:
  int64_t m_per_thread;
  Buffer m_buffer;
};

// Runs body(unit, work) for units [0, units) on `threads` threads, work = the running thread's slice
// of `per_thread` values at `workspace`. One thread: the units in order on the calling thread,
// outside a parallel region (Eigen may then thread a unit's GEMM).
template <class T, class F>
void for_each_band(int64_t units, int threads, T* workspace, int64_t per_thread, const F& body) {
  if (threads > 1) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t unit = 0; unit < units; ++unit) body(unit, workspace + conv_thread_id() * per_thread);
  } else {
    for (int64_t unit = 0; unit < units; ++unit) body(unit, workspace);
  }
}

// Runs body(unit, work, acc) for units [0, units) on `threads` threads (work as for for_each_band),
// each thread adding into an accumulator of `size` values: thread 0 into acc0, the others into zeroed
// ones of their own, added to acc0 in thread order at the end. The schedule is static (which units a
// thread sums is fixed), so the result is reproducible for a thread count.
template <class T, class F>
void sum_over_bands(int64_t units, int threads, T* workspace, int64_t per_thread, int64_t size, T* acc0,
                    const F& body) {
  if (threads <= 1) {
    for (int64_t unit = 0; unit < units; ++unit) body(unit, workspace, acc0);
    return;
  }
  ThreadScratch<T> partial(threads - 1, size);
#pragma omp parallel num_threads(threads)
  {
    const int tid = conv_thread_id();
    T* acc = tid == 0 ? acc0 : partial.get(tid - 1);
    if (tid != 0) std::fill(acc, acc + size, T(0));
#pragma omp for schedule(static)
    for (int64_t unit = 0; unit < units; ++unit) body(unit, workspace + tid * per_thread, acc);
  }
  for (int t = 1; t < threads; ++t) {
    const T* p = partial.get(t - 1);
#pragma omp simd
    for (int64_t i = 0; i < size; ++i) acc0[i] += p[i];
  }
}

}  // namespace srmds::cpu::SRMDS_CPU_ISA::detail
