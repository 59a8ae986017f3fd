// Exponential moving average of a network's state (Polyak averaging, as timm's ModelEmaV2 and
// the mean-teacher models keep one): after every optimizer step t = 1, 2, ...
//   d_t = min(decay, (1 + t) / (10 + t))        (short memory while the weights move fast)
//   a  <- d_t a + (1 - d_t) w                   for every weight and BN running statistic w
// The averaged state is what validation sees and what the best file holds; training continues on w.
// swap() exchanges w and a in place (twice restores), so the network itself evaluates and saves the
// average. state() names the averages "ema.<name>" so that checkpoints hold and restore them.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "srmds/core/named_tensor.hpp"
#include "srmds/ops/tensor_ops.hpp"

namespace srmds {

template <class T, class D>
class WeightAverage {
public:
  // Starts the average at the current values of every entry of `list` (parameters and buffers);
  // the tensors must outlive the average.
  WeightAverage(Context<D>& ctx, const StateList<T, D>& list, double decay) : m_decay(decay), m_entries(list) {
    SRMDS_CHECK(std::isfinite(decay) && decay >= 0 && decay < 1, "WeightAverage: decay " << decay << " not in [0, 1)");
    m_average.reserve(list.size());
    for (const auto& e : list) {
      SRMDS_CHECK(e.value != nullptr, "WeightAverage: tensor " << e.name << " has no value");
      m_average.emplace_back(e.value->shape(), ctx);
      copy(ctx, *e.value, m_average.back());
    }
  }
  WeightAverage(const WeightAverage&) = delete;
  WeightAverage& operator=(const WeightAverage&) = delete;

  double decay() const { return m_decay; }
  // The weight of the old average after optimizer step t (1-based).
  double decay_at(int64_t t) const {
    return std::min(m_decay, (1.0 + static_cast<double>(t)) / (10.0 + static_cast<double>(t)));
  }

  // Folds the current values in, after optimizer step t.
  void update(Context<D>& ctx, int64_t t) {
    const T d = static_cast<T>(decay_at(t));
    for (size_t i = 0; i < m_entries.size(); ++i) {
      axpy(ctx, static_cast<T>(d - T(1)), m_average[i], m_average[i]);  // a <- d a
      axpy(ctx, static_cast<T>(T(1) - d), *m_entries[i].value, m_average[i]);
    }
  }

  // Exchanges the live values and the averages (the network then holds the average).
  void swap(Context<D>& ctx) {
    for (size_t i = 0; i < m_entries.size(); ++i) {
      Tensor<T, D>& w = *m_entries[i].value;
      if (m_scratch.size() <= i) m_scratch.emplace_back(w.shape(), ctx);
      copy(ctx, w, m_scratch[i]);
      copy(ctx, m_average[i], w);
      copy(ctx, m_scratch[i], m_average[i]);
    }
  }

  // "ema.<name>" for every averaged tensor (for checkpoints).
  StateList<T, D> state() {
    StateList<T, D> out;
    for (size_t i = 0; i < m_entries.size(); ++i) out.push_back({"ema." + m_entries[i].name, &m_average[i], nullptr});
    return out;
  }

private:
  double m_decay;
  StateList<T, D> m_entries;
  std::vector<Tensor<T, D>> m_average, m_scratch;
};

}  // namespace srmds
