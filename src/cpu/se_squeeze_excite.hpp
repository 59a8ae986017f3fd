// Squeeze, excitation and scaling shared by se_forward (se.cpp) and se_relu_forward (se_relu.cpp);
// internal to the kernels, one copy per ISA variant. The math: include/srmds/cpu/se.hpp.
#pragma once

#include <vector>

#include "srmds/cpu/parallel.hpp"
#include "srmds/ops/math/scalar.hpp"
#include "srmds/ops/math/se.hpp"
#include "variant.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace detail {

// Squeeze and excitation of se_forward: fills mean s, hidden u and scale a.
template <class T>
void se_squeeze_excite(const Tensor<T, Cpu>& x,                                       // (N, C, H, W)
                       const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,            // (Hd, C, 1, 1), (Hd)
                       const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2,            // (C, Hd, 1, 1), (C)
                       Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden, Tensor<T, Cpu>& scale) {  // (N, C), (N, Hd), (N, C)
  const Shape& sx = x.shape();
  const int64_t nn = sx.n(), c = sx.c(), hw = sx.h() * sx.w();
  const int hd = static_cast<int>(w1.shape()[0]);
  std::vector<double> s(static_cast<size_t>(nn * c));
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const T* p = x.sample(plane / c) + (plane % c) * hw;
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < hw; ++i) acc += static_cast<double>(p[i]);
        s[static_cast<size_t>(plane)] = acc / static_cast<double>(hw);
      },
      hw);
  std::vector<double> u(static_cast<size_t>(hd)), a(static_cast<size_t>(c));
  for (int64_t n = 0; n < nn; ++n) {
    se_excitation(s.data() + n * c, w1.data(), b1.data(), w2.data(), b2.data(), static_cast<int>(c), hd, u.data(),
                  a.data());
    for (int64_t k = 0; k < c; ++k) {
      mean[n * c + k] = static_cast<T>(s[static_cast<size_t>(n * c + k)]);
      scale[n * c + k] = static_cast<T>(a[static_cast<size_t>(k)]);
    }
    for (int j = 0; j < hd; ++j) hidden[n * hd + j] = static_cast<T>(u[static_cast<size_t>(j)]);
  }
}

// y = x a (with_relu: max(x a, 0)) per (n, c) plane; y may be x.
template <bool with_relu, class T>
void se_apply_scale(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& scale, Tensor<T, Cpu>& y) {
  const Shape& sx = x.shape();
  const int64_t c = sx.c(), hw = sx.h() * sx.w();
  parallel_for(
      sx.n() * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* p = x.sample(n) + k * hw;
        T* q = y.sample(n) + k * hw;
        const T ak = scale[plane];
#pragma omp simd
        for (int64_t i = 0; i < hw; ++i) {
          if constexpr (with_relu)
            q[i] = math::relu(p[i] * ak);
          else
            q[i] = p[i] * ak;
        }
      },
      hw);
}

}  // namespace detail

}  // namespace srmds::cpu::SRMDS_CPU_ISA
