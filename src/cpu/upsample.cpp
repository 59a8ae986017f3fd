// upsample kernels, one variant per ISA level (see include/srmds/cpu/upsample.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include <vector>

#include "srmds/ops/math/bilinear.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace detail {
template <class T>
std::vector<BilinearTap<T>> bilinear_taps(int in, int out, bool align_corners) {
  std::vector<BilinearTap<T>> taps(static_cast<size_t>(out));
  for (int d = 0; d < out; ++d) taps[static_cast<size_t>(d)] = bilinear_axis<T>(d, in, out, align_corners);
  return taps;
}
}  // namespace detail

template <class T>
void upsample_bilinear_forward(const Tensor<T, Cpu>& x,  // (N, C, h, w)
                               Tensor<T, Cpu>& y,        // (N, C, H, W)
                               bool align_corners) {
  const Shape& si = x.shape();
  const Shape& so = y.shape();
  const int ih = static_cast<int>(si.h()), iw = static_cast<int>(si.w());
  const int oh = static_cast<int>(so.h()), ow = static_cast<int>(so.w());
  const auto ty = detail::bilinear_taps<T>(ih, oh, align_corners);
  const auto tx = detail::bilinear_taps<T>(iw, ow, align_corners);
  const int64_t in_hw = si.h() * si.w(), out_hw = so.h() * so.w();
  parallel_for(
      so.n() * so.c(),
      [&](int64_t plane) {
        const int64_t n = plane / so.c(), c = plane % so.c();
        const T* xp = x.sample(n) + c * in_hw;
        T* yp = y.sample(n) + c * out_hw;
        for (int i = 0; i < oh; ++i) {
          const BilinearTap<T> a = ty[static_cast<size_t>(i)];
          const T* r0 = xp + static_cast<int64_t>(a.i0) * iw;
          const T* r1 = xp + static_cast<int64_t>(a.i1) * iw;
          T* out = yp + static_cast<int64_t>(i) * ow;
          for (int j = 0; j < ow; ++j) {
            const BilinearTap<T> b = tx[static_cast<size_t>(j)];
            const T top = (T(1) - b.lambda) * r0[b.i0] + b.lambda * r0[b.i1];
            const T bot = (T(1) - b.lambda) * r1[b.i0] + b.lambda * r1[b.i1];
            out[j] = (T(1) - a.lambda) * top + a.lambda * bot;
          }
        }
      },
      out_hw);
}

template <class T>
void upsample_bilinear_backward(const Tensor<T, Cpu>& dy,  // (N, C, H, W)
                                Tensor<T, Cpu>& dx,        // (N, C, h, w)
                                bool align_corners, WriteMode mode) {
  const Shape& si = dx.shape();
  const Shape& so = dy.shape();
  const int ih = static_cast<int>(si.h()), iw = static_cast<int>(si.w());
  const int oh = static_cast<int>(so.h()), ow = static_cast<int>(so.w());
  const auto ty = detail::bilinear_taps<T>(ih, oh, align_corners);
  const auto tx = detail::bilinear_taps<T>(iw, ow, align_corners);
  const int64_t in_hw = si.h() * si.w(), out_hw = so.h() * so.w();
  parallel_for(
      so.n() * so.c(),
      [&](int64_t plane) {
        const int64_t n = plane / so.c(), c = plane % so.c();
        T* dp = dx.sample(n) + c * in_hw;
        const T* gp = dy.sample(n) + c * out_hw;
        if (mode == WriteMode::Overwrite)
          for (int64_t k = 0; k < in_hw; ++k) dp[k] = T(0);
        for (int i = 0; i < oh; ++i) {
          const BilinearTap<T> a = ty[static_cast<size_t>(i)];
          T* r0 = dp + static_cast<int64_t>(a.i0) * iw;
          T* r1 = dp + static_cast<int64_t>(a.i1) * iw;
          const T* g = gp + static_cast<int64_t>(i) * ow;
          for (int j = 0; j < ow; ++j) {
            const BilinearTap<T> b = tx[static_cast<size_t>(j)];
            const T g0 = (T(1) - a.lambda) * g[j], g1 = a.lambda * g[j];
            r0[b.i0] += (T(1) - b.lambda) * g0;
            r0[b.i1] += b.lambda * g0;
            r1[b.i0] += (T(1) - b.lambda) * g1;
            r1[b.i1] += b.lambda * g1;
          }
        }
      },
      out_hw);
}

SRMDS_CPU_INSTANTIATE(upsample_bilinear_forward)
SRMDS_CPU_INSTANTIATE(upsample_bilinear_backward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
