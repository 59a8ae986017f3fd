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
    // SGE's per-group weight and bias are (1, G, 1, 1): randomised like biases (weight 0 would
    // switch off the gradient through its normalisation).
    const bool sge_param = ends_with(e.name, "att.weight") || ends_with(e.name, "att.bias");
    if (v.shape().rank() != 1 && !sge_param) continue;
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

}  // namespace srmds::test

namespace srmds::test {

// check_gradient with the one-sided fallback for ReLU/max-pool kinks (see support/testing.hpp).
inline void check_gradient_kinks(Tensor<double, Cpu>& param, const Tensor<double, Cpu>& analytic,
                                 const std::function<double()>& loss, const std::string& what, Rng& rng,
                                 int max_points = 48, double eps = 1e-6, double rtol = 1e-6, double atol = 1e-8,
                                 double rtol_one_sided = 1e-5) {
  check_gradient(param, analytic, loss, what, rng, max_points, eps, rtol, atol, rtol_one_sided);
}

}  // namespace srmds::test
