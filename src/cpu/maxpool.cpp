// maxpool kernels, one variant per ISA level (see include/srmds/cpu/maxpool.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include <cstdint>

#include "srmds/ops/math/maxpool.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void maxpool2_forward(const Tensor<T, Cpu>& x,         // (N, C, H, W)
                      Tensor<T, Cpu>& y,               // (N, C, H/2, W/2)
                      Tensor<int32_t, Cpu>& argmax) {  // (N, C, H/2, W/2)
  const Shape& s = y.shape();
  const int64_t in_hw = x.shape().h() * x.shape().w(), out_hw = s.h() * s.w();
  const int w = static_cast<int>(x.shape().w());
  parallel_for(
      s.n() * s.c(),
      [&](int64_t plane) {
        const int64_t n = plane / s.c(), c = plane % s.c();
        const T* xp = x.sample(n) + c * in_hw;
        T* yp = y.sample(n) + c * out_hw;
        int32_t* ap = argmax.sample(n) + c * out_hw;
        for (int oh = 0; oh < static_cast<int>(s.h()); ++oh)
          for (int ow = 0; ow < static_cast<int>(s.w()); ++ow) {
            const int64_t o = oh * s.w() + ow;
            ap[o] = maxpool2_window_argmax(xp, w, oh, ow, &yp[o]);
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
