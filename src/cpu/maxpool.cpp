// maxpool kernels, one variant per ISA level (see include/srmds/cpu/maxpool.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include <cstdint>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "srmds/ops/math/maxpool.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

// Output row oh of the plane xp (width w): yr[ow] and its argmax ar[ow] by maxpool2_window_argmax
// (ops/math/maxpool.hpp: the first of equal maxima, NaN wins; the CUDA kernel's rule too). On
// AVX-512 the same choice 16 outputs at a time (GCC leaves the window loop unvectorised).
template <class T>
void maxpool2_row(const T* xp, int32_t w, int32_t oh, int32_t ow_n, T* yr, int32_t* ar) {
  int32_t ow = 0;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const int32_t base = 2 * oh * w;
    const float *r0 = xp + base, *r1 = r0 + w;
    // even: the lanes 0, 2, .., 30 of two vectors (also each output's column offset 2 ow in its row).
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i offs[3] = {_mm512_set1_epi32(1), _mm512_set1_epi32(w), _mm512_set1_epi32(w + 1)};
    for (; ow + 16 <= ow_n; ow += 16) {
      const __m512 p0 = _mm512_loadu_ps(r0 + 2 * ow), p1 = _mm512_loadu_ps(r0 + 2 * ow + 16);
      const __m512 q0 = _mm512_loadu_ps(r1 + 2 * ow), q1 = _mm512_loadu_ps(r1 + 2 * ow + 16);
      const __m512 cand[3] = {_mm512_permutex2var_ps(p0, odd, p1), _mm512_permutex2var_ps(q0, even, q1),
                              _mm512_permutex2var_ps(q0, odd, q1)};
      __m512 best = _mm512_permutex2var_ps(p0, even, p1);
      __m512i at = _mm512_setzero_si512();
      for (int k = 0; k < 3; ++k) {
        const __mmask16 take = _mm512_cmp_ps_mask(cand[k], best, _CMP_GT_OQ) |
                               (_mm512_cmp_ps_mask(cand[k], cand[k], _CMP_UNORD_Q) &
                                _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q));
        best = _mm512_mask_blend_ps(take, best, cand[k]);
        at = _mm512_mask_blend_epi32(take, at, offs[k]);
      }
      _mm512_storeu_ps(yr + ow, best);
      const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(base + 2 * ow), _mm512_add_epi32(even, at));
      _mm512_storeu_si512(ar + ow, idx);
    }
  }
#endif
  for (; ow < ow_n; ++ow) ar[ow] = maxpool2_window_argmax(xp, w, oh, ow, &yr[ow]);
}

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
        for (int32_t oh = 0; oh < static_cast<int32_t>(s.h()); ++oh)
          maxpool2_row(xp, w, oh, ow_n, yp + static_cast<int64_t>(oh) * ow_n, ap + static_cast<int64_t>(oh) * ow_n);
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

SRMDS_CPU_INSTANTIATE(maxpool2_forward)
SRMDS_CPU_INSTANTIATE(maxpool2_backward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
