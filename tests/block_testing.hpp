// Helpers for the block and network tests: randomised BN statistics and parameters through the
// state list, copies of host tensors, and a finite-difference check that tolerates kinks.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "srmds/core/named_tensor.hpp"
#include "srmds/core/rng.hpp"
#include "support/testing.hpp"

namespace srmds::test {

inline bool is_bn_entry(const std::string& name) {
  return name.find("bn.") != std::string::npos || name.find("br.id.") != std::string::npos;
}
inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Gives every BN non-trivial statistics and affine parameters (so that a fusion that ignores one of
// them fails): gamma in [0.5, 2], beta and running_mean in [-1, 1], running_var in [0.1, 2]. Other
// rank-1 parameters (biases) get uniform [-0.5, 0.5]. With running_stats == false the running
// statistics are left alone (to be set by training-mode forwards instead).
template <class T>
void randomize_bn_and_biases(StateList<T, Cpu>& st, Rng& rng, bool running_stats = true) {
  for (auto& e : st) {
    Tensor<T, Cpu>& v = *e.value;
    if (v.shape().rank() != 1) continue;
    if (!running_stats && !e.is_parameter()) continue;
    double lo = -0.5, hi = 0.5;
    if (is_bn_entry(e.name)) {
      if (ends_with(e.name, "running_var")) {
        lo = 0.1, hi = 2.0;
      } else if (ends_with(e.name, "weight")) {
        lo = 0.5, hi = 2.0;
      } else {
        lo = -1.0, hi = 1.0;
      }
    }
    for (int64_t i = 0; i < v.numel(); ++i) v[i] = static_cast<T>(rng.uniform(lo, hi));
  }
}

template <class T>
Tensor<T, Cpu> host_copy(const Tensor<T, Cpu>& t) {
  Tensor<T, Cpu> c(t.shape());
  for (int64_t n = 0; n < (t.shape().rank() == 4 ? t.shape().n() : 1); ++n) {
    const int64_t len = t.shape().rank() == 4 ? t.sample_numel() : t.numel();
    const T* src = t.shape().rank() == 4 ? t.sample(n) : t.data();
    T* dst = c.shape().rank() == 4 ? c.sample(n) : c.data();
    for (int64_t i = 0; i < len; ++i) dst[i] = src[i];
  }
  return c;
}

}  // namespace srmds::test

namespace srmds::test {

// Central-difference gradient check that tolerates kinks (ReLU, max-pool) near the evaluation
// point. A network has thousands of ReLUs; with training-mode BN and SE every output depends on
// every input, so one pre-activation within eps of zero spoils the central difference of all
// entries (seen in practice: about one random seed in ten at eps = 1e-6). When the central
// difference disagrees, the point lies on one smooth piece and the one-sided difference taken away
// from the kink is exact up to O(eps f''): the entry passes if the forward or the backward
// difference matches the analytic value (rtol_one_sided). A wrong gradient fails all three.
inline void check_gradient_kinks(Tensor<double, Cpu>& param, const Tensor<double, Cpu>& analytic,
                                 const std::function<double()>& loss, const std::string& what, Rng& rng,
                                 int max_points = 48, double eps = 1e-6, double rtol = 1e-6, double atol = 1e-8,
                                 double rtol_one_sided = 1e-5) {
  REQUIRE(param.shape() == analytic.shape());
  REQUIRE(param.is_contiguous());
  const int64_t n = param.numel();
  std::vector<int64_t> idx;
  if (n <= max_points) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (int k = 0; k < max_points; ++k) idx.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(n))));
  }
  double max_abs_grad = 0;
  for (int64_t i = 0; i < n; ++i) max_abs_grad = std::max(max_abs_grad, std::abs(analytic[i]));
  const double l0 = loss();
  for (int64_t i : idx) {
    const double saved = param[i];
    param[i] = saved + eps;
    const double lp = loss();
    param[i] = saved - eps;
    const double lm = loss();
    param[i] = saved;
    const double a = analytic[i];
    const double central = (lp - lm) / (2 * eps);
    const double scale = std::max(std::abs(central), max_abs_grad);
    if (std::abs(a - central) <= atol + rtol * scale) continue;
    const double forward = (lp - l0) / eps, backward = (l0 - lm) / eps;
    const double best = std::min(std::abs(a - forward), std::abs(a - backward));
    INFO(what << "[" << i << "]: analytic " << a << " central " << central << " forward " << forward << " backward "
              << backward);
    CHECK(best <= atol + rtol_one_sided * scale);
  }
}

}  // namespace srmds::test
