// Evaluation of a network on a slice dataset (SPEC §4): eval-mode forward of z_0 in batches,
// per-image confusion counts, micro and per-image metrics. The dataset serves its slices in its
// own order (use one without shuffling or flips).
#pragma once

#include "srmds/data/slice_dataset.hpp"
#include "srmds/metrics/accumulator.hpp"
#include "srmds/metrics/confusion_counts.hpp"
#include "srmds/infer/finite_logits.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/tensor_ops.hpp"

namespace srmds {

// Host float batch -> tensor of the network's precision on its device.
template <class T, class D>
Tensor<T, D> to_device_as(Context<D>& ctx, const Tensor<float, Cpu>& host) {
  if constexpr (std::is_same_v<T, float>) {
    return from_host(ctx, host);
  } else {
    Tensor<T, Cpu> typed(host.shape());
    for (int64_t i = 0; i < host.numel(); ++i) typed[i] = static_cast<T>(host[i]);
    return from_host(ctx, typed);
  }
}

template <class T, class D>
MetricsAccumulator evaluate(Context<D>& ctx, SrmdsNet<T, D>& net, const SliceDataset& data, int batch) {
  SRMDS_CHECK(batch > 0, "evaluate: batch " << batch << " must be positive");
  MetricsAccumulator acc;
  for (int64_t b = 0; b < data.num_batches(batch); ++b) {
    const SliceBatch hb = data.batch(b, batch);
    const Tensor<T, D> x = to_device_as<T>(ctx, hb.images);
    const Tensor<T, D> y = to_device_as<T>(ctx, hb.masks);
    Tensor<T, D> z(Shape{x.shape().n(), 1, x.shape().h(), x.shape().w()}, ctx);
    net.forward_eval(ctx, x, z);
    check_finite_logits(ctx, z, b * batch);  // NaN logits would count as "no lesion"
    Tensor<int64_t, D> counts(Shape{x.shape().n(), 4}, ctx);
    confusion_counts(ctx, z, y, counts);
    acc.add(to_host(ctx, counts));
  }
  return acc;
}

}  // namespace srmds
