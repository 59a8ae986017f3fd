// The networks of `eval` and `segment`: the --model files as an ensemble (infer/ensemble.hpp; one
// file is an ensemble of one), each at the requested --precision: bf16 (CPU only) runs the fused
// form, so a training-form file is fused first (nets/precision.hpp).
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "srmds/infer/ensemble.hpp"
#include "srmds/nets/precision.hpp"

namespace srmds::cli {

template <class D>
std::vector<SrmdsNet<float, D>> load_models(Context<D>& ctx, const std::vector<std::string>& models, Precision precision) {
  std::vector<SrmdsNet<float, D>> nets = load_ensemble<float, D>(ctx, models);
  if constexpr (std::is_same_v<D, Cpu>) {
    if (precision == Precision::Bf16)
      for (SrmdsNet<float, D>& net : nets) {
        if (net.form() == NetForm::Train) net = net.fused(ctx);
        net.set_precision(precision);
      }
  }
  return nets;
}

}  // namespace srmds::cli
