// CPU squeeze-and-excitation (reference and production path). See ops/se.hpp.
//   forward:  s = mean_hw x,  u = ReLU(W1 s + b1),  a = sigmoid(W2 u + b2),  y = x a
//   backward: ga[n, c] = sum_hw dy x                      (dL/da)
//             gz2 = ga a (1 - a),  gu = W2^T gz2,  gz1 = gu [u > 0],  gs = W1^T gz1
//             dx = dy a + gs / (H W)
//             dW2 = sum_n gz2 u^T, db2 = sum_n gz2, dW1 = sum_n gz1 s^T, db1 = sum_n gz1
// Plane reductions are accumulated in double and split over (n, c) planes; the two tiny fully
// connected layers run per sample (se_excitation / se_excitation_backward, shared with CUDA).
#pragma once

#include <cmath>
#include <vector>

#include "srmds/ops/math/se.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/ops/math/scalar.hpp"
#include "srmds/cpu/parallel.hpp"
#include "srmds/cpu/sigmoid.hpp"

namespace srmds {
namespace cpu {

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

template <class T>
void se_forward(const Tensor<T, Cpu>& x,                                                // (N, C, H, W)
                const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& b1,                     // (Hd, C, 1, 1), (Hd)
                const Tensor<T, Cpu>& w2, const Tensor<T, Cpu>& b2,                     // (C, Hd, 1, 1), (C)
                Tensor<T, Cpu>& y,                                                      // (N, C, H, W)
                Tensor<T, Cpu>& mean, Tensor<T, Cpu>& hidden, Tensor<T, Cpu>& scale) {  // (N, C), (N, Hd), (N, C)
  detail::se_squeeze_excite(x, w1, b1, w2, b2, mean, hidden, scale);
  detail::se_apply_scale<false>(x, scale, y);
}

template <class T>
void se_backward(const Tensor<T, Cpu>& x,                             // (N, C, H, W) forward input
                 const Tensor<T, Cpu>& dy,                            // (N, C, H, W)
                 const Tensor<T, Cpu>& w1, const Tensor<T, Cpu>& w2,  // (Hd, C, 1, 1), (C, Hd, 1, 1)
                 const Tensor<T, Cpu>& mean, const Tensor<T, Cpu>& hidden, const Tensor<T, Cpu>& scale,
                 Tensor<T, Cpu>& dx, WriteMode dx_mode,  // (N, C, H, W)
                 Tensor<T, Cpu>& dw1, Tensor<T, Cpu>& db1, Tensor<T, Cpu>& dw2, Tensor<T, Cpu>& db2,
                 WriteMode param_mode) {
  const Shape& sx = x.shape();
  const int64_t nn = sx.n(), c = sx.c(), hw = sx.h() * sx.w();
  const int hd = static_cast<int>(w1.shape()[0]);
  // ga[n, c] = sum_hw dy x
  std::vector<double> ga(static_cast<size_t>(nn * c));
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* p = x.sample(n) + k * hw;
        const T* g = dy.sample(n) + k * hw;
        double acc = 0;
        for (int64_t i = 0; i < hw; ++i) acc += static_cast<double>(g[i]) * static_cast<double>(p[i]);
        ga[static_cast<size_t>(plane)] = acc;
      },
      hw);
  std::vector<double> gz2(static_cast<size_t>(nn * c)), gz1(static_cast<size_t>(nn * hd)),
      gs(static_cast<size_t>(nn * c));
  std::vector<double> u(static_cast<size_t>(hd)), a(static_cast<size_t>(c));
  for (int64_t n = 0; n < nn; ++n) {
    for (int j = 0; j < hd; ++j) u[static_cast<size_t>(j)] = static_cast<double>(hidden[n * hd + j]);
    for (int64_t k = 0; k < c; ++k) a[static_cast<size_t>(k)] = static_cast<double>(scale[n * c + k]);
    se_excitation_backward(ga.data() + n * c, u.data(), a.data(), w1.data(), w2.data(), static_cast<int>(c), hd,
                           gz2.data() + n * c, gz1.data() + n * hd, gs.data() + n * c);
  }
  // Parameter gradients: sums over the batch.
  for (int j = 0; j < hd; ++j) {
    double gb = 0;
    for (int64_t n = 0; n < nn; ++n) gb += gz1[static_cast<size_t>(n * hd + j)];
    write(db1[j], static_cast<T>(gb), param_mode);
    for (int64_t k = 0; k < c; ++k) {
      double gw = 0;
      for (int64_t n = 0; n < nn; ++n)
        gw += gz1[static_cast<size_t>(n * hd + j)] * static_cast<double>(mean[n * c + k]);
      write(dw1[j * c + k], static_cast<T>(gw), param_mode);
    }
  }
  for (int64_t k = 0; k < c; ++k) {
    double gb = 0;
    for (int64_t n = 0; n < nn; ++n) gb += gz2[static_cast<size_t>(n * c + k)];
    write(db2[k], static_cast<T>(gb), param_mode);
    for (int j = 0; j < hd; ++j) {
      double gw = 0;
      for (int64_t n = 0; n < nn; ++n)
        gw += gz2[static_cast<size_t>(n * c + k)] * static_cast<double>(hidden[n * hd + j]);
      write(dw2[k * hd + j], static_cast<T>(gw), param_mode);
    }
  }
  // dx = dy a + gs / (H W)
  const bool acc = dx_mode == WriteMode::Accumulate;
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, k = plane % c;
        const T* g = dy.sample(n) + k * hw;
        T* d = dx.sample(n) + k * hw;
        const T ak = scale[plane];
        const T shift = static_cast<T>(gs[static_cast<size_t>(plane)] / static_cast<double>(hw));
        for (int64_t i = 0; i < hw; ++i) {
          const T v = g[i] * ak + shift;
          d[i] = acc ? d[i] + v : v;
        }
      },
      hw);
}

}  // namespace cpu
}  // namespace srmds
