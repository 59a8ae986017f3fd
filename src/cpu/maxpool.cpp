// maxpool kernels, one variant per ISA level (see include/srmds/cpu/maxpool.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include <cstdint>

#include "srmds/ops/math/maxpool.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

// Row by row, branch-free over the outputs of a row so that it vectorises; the same choice as
// maxpool2_window_argmax (ops/math/maxpool.hpp: the first of equal maxima, NaN wins), which the
// CUDA kernel uses.
template <class T>
void maxpool2_forward(const Tensor<T, Cpu>& x,         // (N, C, H, W)
                      Tensor<T, Cpu>& y,               // (N, C, H/2, W/2)
                      Tensor<int32_t, Cpu>& argmax) {  // (N, C, H/2, W/2)
  const Shape& s = y.shape();
  const int64_t in_hw = x.shape().h() * x.shape().w(), out_hw = s.h() * s.w();
  const int32_t w = static_cast<int32_t>(x.shape().w()), ow_n = static_cast<int32_t>(s.w());
  parallel_for(
      s.n() * s.c(),
      [&](int64_t plane) {
        const int64_t n = plane / s.c(), c = plane % s.c();
        const T* xp = x.sample(n) + c * in_hw;
        T* yp = y.sample(n) + c * out_hw;
        int32_t* ap = argmax.sample(n) + c * out_hw;
        for (int32_t oh = 0; oh < static_cast<int32_t>(s.h()); ++oh) {
          const int32_t base = 2 * oh * w;
          const T *r0 = xp + base, *r1 = r0 + w;
          T* yr = yp + static_cast<int64_t>(oh) * ow_n;
          int32_t* ar = ap + static_cast<int64_t>(oh) * ow_n;
#pragma omp simd
          for (int32_t ow = 0; ow < ow_n; ++ow) {
            T best = r0[2 * ow];
            int32_t at = 0;
            const T cand[3] = {r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
            const int32_t off[3] = {1, w, w + 1};
            for (int k = 0; k < 3; ++k) {
              const bool take = cand[k] > best || (cand[k] != cand[k] && best == best);
              best = take ? cand[k] : best;
              at = take ? off[k] : at;
            }
            yr[ow] = best;
            ar[ow] = base + 2 * ow + at;
          }
        }
      },
      in_hw);
}

template <class T>
void maxpool2_backward(const Tensor<T, Cpu>& dy,            // (N, C, H/2, W/2)
                       const Tensor<int32_t, Cpu>& argmax,  // (N, C, H/2, W/2)
                       Tensor<T, Cpu>& dx,                  // (N, C, H, W)
                       WriteMode mode) {
  const Shape& s = dy.shape();
  const int64_t in_hw = dx.shape().h() * dx.shape().w(), out_hw = s.h() * s.w();
  parallel_for(
      s.n() * s.c(),
      [&](int64_t plane) {
        const int64_t n = plane / s.c(), c = plane % s.c();
        T* dp = dx.sample(n) + c * in_hw;
        const T* gp = dy.sample(n) + c * out_hw;
        const int32_t* ap = argmax.sample(n) + c * out_hw;
        if (mode == WriteMode::Overwrite)
          for (int64_t i = 0; i < in_hw; ++i) dp[i] = T(0);
        for (int64_t o = 0; o < out_hw; ++o) dp[ap[o]] += gp[o];
      },
      in_hw);
}

template <class T>
void register_maxpool(cpu::detail::Kernels<T>& k) {
  k.maxpool2_forward = &maxpool2_forward<T>;
  k.maxpool2_backward = &maxpool2_backward<T>;
}
SRMDS_CPU_REGISTER(maxpool)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
