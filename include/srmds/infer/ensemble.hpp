// Ensembles: several trained networks whose probabilities are averaged (the same recipe trained with
// different seeds, or the models of a cross-validation's folds), as `srmds segment` and `srmds eval`
// run them when --model names several files.
//
// predict_probability(ctx, nets, x, batch, tta): p = the mean over the members of each member's
//   sigmoid(z_0) (with `tta`, of each member's flip-averaged probabilities), (N, 1, H, W) on the
//   host. One member gives exactly that member's probabilities. A member with non-finite logits
//   throws NonFiniteLogits naming its position (1-based) in the ensemble.
// check_same_inputs(nets, names): the members must read their input the same way (input size,
//   channels, HU window, lesion labels: what SliceDataOptions::from_config takes from a config),
//   else an Error naming the first file and the one that differs.
// load_ensemble(ctx, paths): every file loaded (io::load_weights) and checked.
#pragma once

#include <string>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/infer/finite_logits.hpp"
#include "srmds/infer/segment.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/srmds_net.hpp"

namespace srmds {

template <class T, class D>
Tensor<float, Cpu> predict_probability(Context<D>& ctx, std::vector<SrmdsNet<T, D>>& nets, const Tensor<float, Cpu>& x,
                                       int batch, bool tta = false) {
  SRMDS_CHECK(!nets.empty(), "predict_probability: an ensemble of no networks");
  const size_t n = nets.size();
  Tensor<float, Cpu> p;
  for (size_t m = 0; m < n; ++m) {
    Tensor<float, Cpu> q;
    try {
      q = predict_probability(ctx, nets[m], x, batch, tta);
    } catch (const NonFiniteLogits& e) {
      if (n == 1) throw;
      throw NonFiniteLogits("model " + std::to_string(m + 1) + " of the ensemble of " + std::to_string(n) + ": " + e.what());
    }
    if (m == 0) {
      p = std::move(q);
      continue;
    }
    for (int64_t i = 0; i < p.numel(); ++i) p[i] += q[i];
  }
  if (n > 1)
    for (int64_t i = 0; i < p.numel(); ++i) p[i] /= static_cast<float>(n);
  return p;
}

template <class T, class D>
void check_same_inputs(const std::vector<SrmdsNet<T, D>>& nets, const std::vector<std::string>& names) {
  SRMDS_CHECK(!nets.empty() && names.size() == nets.size(),
              "ensemble: " << nets.size() << " networks and " << names.size() << " names");
  const NetConfig& a = nets.front().config();
  for (size_t m = 1; m < nets.size(); ++m) {
    const NetConfig& b = nets[m].config();
    const auto fail = [&](const char* what) {
      SRMDS_THROW("ensemble: '" << names[m] << "' differs from '" << names.front() << "' in its " << what
                                << "; the models of an ensemble must read their input the same way");
    };
    if (b.input_size != a.input_size) fail("input size");
    if (b.in_channels != a.in_channels) fail("input channels");
    if (b.window != a.window) fail("HU window");
    if (b.lesion_labels != a.lesion_labels) fail("lesion labels");
  }
}

template <class T, class D>
std::vector<SrmdsNet<T, D>> load_ensemble(Context<D>& ctx, const std::vector<std::string>& paths) {
  SRMDS_CHECK(!paths.empty(), "load_ensemble: no weight file given");
  std::vector<SrmdsNet<T, D>> nets;
  nets.reserve(paths.size());
  for (const std::string& path : paths) nets.push_back(io::load_weights<T, D>(ctx, path));
  check_same_inputs(nets, paths);
  return nets;
}

}  // namespace srmds
