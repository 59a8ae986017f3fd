// check_gradient (support/testing.hpp) plus a printed figure: the largest central-difference
// error over the checked entries, |analytic - numeric| / max(|numeric|, max |analytic|, 1e-3) (the
// scale check_gradient's rtol applies to, floored so that a gradient that is zero by symmetry, such
// as a softmax logit's bias, reads as its absolute error), so a test run shows how far from its
// tolerance a gradient is.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "support/testing.hpp"

namespace srmds::test {

inline double fd_max_error(Tensor<double, Cpu>& param, const Tensor<double, Cpu>& analytic,
                           const std::function<double()>& loss, Rng& rng, int max_points, double eps) {
  const int64_t n = param.numel();
  double max_abs_grad = 0;
  for (int64_t i = 0; i < n; ++i) max_abs_grad = std::max(max_abs_grad, std::abs(analytic[i]));
  double worst = 0;
  for (int k = 0; k < std::min<int64_t>(n, max_points); ++k) {
    const int64_t i = n <= max_points ? k : static_cast<int64_t>(rng.below(static_cast<uint64_t>(n)));
    const double saved = param[i];
    param[i] = saved + eps;
    const double lp = loss();
    param[i] = saved - eps;
    const double lm = loss();
    param[i] = saved;
    const double central = (lp - lm) / (2 * eps);
    const double scale = std::max({std::abs(central), max_abs_grad, 1e-3});
    worst = std::max(worst, std::abs(analytic[i] - central) / scale);
  }
  return worst;
}

// check_gradient, then prints "FD <what>: max rel error <e>" (fewer points for the figure).
inline void check_gradient_report(Tensor<double, Cpu>& param, const Tensor<double, Cpu>& analytic,
                                  const std::function<double()>& loss, const std::string& what, Rng& rng,
                                  int max_points = 48, double eps = 1e-6, double rtol = 1e-6, double atol = 1e-8,
                                  double rtol_one_sided = 0) {
  check_gradient(param, analytic, loss, what, rng, max_points, eps, rtol, atol, rtol_one_sided);
  const double e = fd_max_error(param, analytic, loss, rng, 16, eps);
  std::printf("FD %-40s max rel error %.2e\n", what.c_str(), e);
}

}  // namespace srmds::test
