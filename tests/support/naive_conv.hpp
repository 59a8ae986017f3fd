// Naive loops for the convolution tests (test_conv2d.cpp, test_conv2d_branches.cpp): the forward
// convolution of ops/conv2d.hpp and its two adjoints, accumulated in double.
#pragma once

#include <vector>

#include "srmds/core/tensor.hpp"

namespace srmds::test {

// A convolution kernel's height and width.
struct Kernel {
  int64_t kh, kw;
};

// y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x[n, c, i + p - kh/2, j + q - kw/2], in double.
template <class T>
Tensor<T, Cpu> naive_conv(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& w, const Tensor<T, Cpu>* b) {
  const Shape& s = x.shape();
  const int64_t kh = w.shape()[2], kw = w.shape()[3], cout = w.shape()[0];
  Tensor<T, Cpu> y(Shape{s.n(), cout, s.h(), s.w()});
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t i = 0; i < s.h(); ++i)
        for (int64_t j = 0; j < s.w(); ++j) {
          double acc = b ? static_cast<double>((*b)[o]) : 0.0;
          for (int64_t c = 0; c < s.c(); ++c)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t ii = i + p - kh / 2, jj = j + q - kw / 2;
                if (ii < 0 || ii >= s.h() || jj < 0 || jj >= s.w()) continue;
                acc += static_cast<double>(w.at(o, c, p, q)) * static_cast<double>(x.at(n, c, ii, jj));
              }
          y.at(n, o, i, j) = static_cast<T>(acc);
        }
  return y;
}

// The adjoints of naive_conv: dx = sum w * dy shifted back, dw = sum dy * x shifted.
template <class T>
Tensor<T, Cpu> naive_backward_data(const Tensor<T, Cpu>& dy, const Tensor<T, Cpu>& w) {
  const Shape& s = dy.shape();
  const int64_t kh = w.shape()[2], kw = w.shape()[3], cin = w.shape()[1];
  std::vector<double> acc(static_cast<size_t>(s.n() * cin * s.h() * s.w()), 0.0);
  auto at = [&](int64_t n, int64_t c, int64_t i, int64_t j) -> double& {
    return acc[static_cast<size_t>(((n * cin + c) * s.h() + i) * s.w() + j)];
  };
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t o = 0; o < s.c(); ++o)
      for (int64_t i = 0; i < s.h(); ++i)
        for (int64_t j = 0; j < s.w(); ++j)
          for (int64_t c = 0; c < cin; ++c)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t ii = i + p - kh / 2, jj = j + q - kw / 2;
                if (ii < 0 || ii >= s.h() || jj < 0 || jj >= s.w()) continue;
                at(n, c, ii, jj) += static_cast<double>(w.at(o, c, p, q)) * static_cast<double>(dy.at(n, o, i, j));
              }
  Tensor<T, Cpu> dx(Shape{s.n(), cin, s.h(), s.w()});
  for (int64_t k = 0; k < dx.numel(); ++k) dx[k] = static_cast<T>(acc[static_cast<size_t>(k)]);
  return dx;
}

template <class T>
Tensor<T, Cpu> naive_backward_filter(const Tensor<T, Cpu>& x, const Tensor<T, Cpu>& dy, int64_t kh, int64_t kw) {
  const Shape& s = x.shape();
  Tensor<T, Cpu> dw(Shape{dy.shape().c(), s.c(), kh, kw});
  for (int64_t o = 0; o < dy.shape().c(); ++o)
    for (int64_t c = 0; c < s.c(); ++c)
      for (int64_t p = 0; p < kh; ++p)
        for (int64_t q = 0; q < kw; ++q) {
          double acc = 0;
          for (int64_t n = 0; n < s.n(); ++n)
            for (int64_t i = 0; i < s.h(); ++i)
              for (int64_t j = 0; j < s.w(); ++j) {
                const int64_t ii = i + p - kh / 2, jj = j + q - kw / 2;
                if (ii < 0 || ii >= s.h() || jj < 0 || jj >= s.w()) continue;
                acc += static_cast<double>(dy.at(n, o, i, j)) * static_cast<double>(x.at(n, c, ii, jj));
              }
          dw.at(o, c, p, q) = static_cast<T>(acc);
        }
  return dw;
}

}  // namespace srmds::test
