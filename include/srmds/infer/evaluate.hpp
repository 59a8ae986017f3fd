// Evaluation of a network on a slice dataset (SPEC §4): eval-mode forward of z_0 in batches,
// per-image confusion counts, micro and per-image metrics, and (when `literature` is given) the
// Inf-Net metrics of every slice (metrics/inf_net.hpp; p = sigmoid(z_0) is copied to the host).
// With `tta` every figure is of the flip-averaged probabilities (infer/segment.hpp), and for an
// ensemble of the members' mean probabilities (infer/ensemble.hpp). The dataset
// serves its slices in its own order (use one without shuffling or flips). On the CPU the network reads each batch where the
// dataset assembled it (ops/transfer.hpp device_view_as), so no batch is copied again.
#pragma once

#include "srmds/data/slice_dataset.hpp"
#include "srmds/metrics/accumulator.hpp"
#include "srmds/metrics/confusion_counts.hpp"
#include "srmds/metrics/inf_net.hpp"
#include "srmds/infer/finite_logits.hpp"
#include "srmds/infer/ensemble.hpp"
#include "srmds/infer/segment.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/sigmoid.hpp"
#include "srmds/ops/transfer.hpp"

namespace srmds {

// Adds the slices of probabilities p (n, 1, H, W, on the host) and their masks to acc (the mask
// p >= 1/2) and to `literature` when given.
inline void add_probabilities(MetricsAccumulator& acc, InfNetMetrics* literature, const Tensor<float, Cpu>& p,
                              const Tensor<float, Cpu>& masks) {
  Tensor<float, Cpu> decision(p.shape());  // p - 1/2: the sign of the logit of p
  for (int64_t i = 0; i < p.numel(); ++i) decision[i] = p[i] - 0.5f;
  Context<Cpu> host;
  Tensor<int64_t, Cpu> counts(Shape{p.shape().n(), 4});
  confusion_counts(host, decision, masks, counts);
  acc.add(counts);
  if (literature) literature->add_slices(p.data(), masks.data(), p.shape().n(), p.shape().h() * p.shape().w());
}

template <class T, class D>
MetricsAccumulator evaluate(Context<D>& ctx, SrmdsNet<T, D>& net, const SliceDataset& data, int batch,
                            InfNetMetrics* literature = nullptr, bool tta = false) {
  SRMDS_CHECK(batch > 0, "evaluate: batch " << batch << " must be positive");
  MetricsAccumulator acc;
  for (int64_t b = 0; b < data.num_batches(batch); ++b) {
    const SliceBatch hb = data.batch(b, batch);
    if (tta) {  // the averaged probabilities, on the host
      add_probabilities(acc, literature, predict_probability(ctx, net, hb.images, batch, true), hb.masks);
      continue;
    }
    const Tensor<T, D> x = device_view_as<T>(ctx, hb.images);  // on the CPU: the batch itself
    const Tensor<T, D> y = device_view_as<T>(ctx, hb.masks);
    Tensor<T, D> z(Shape{x.shape().n(), 1, x.shape().h(), x.shape().w()}, ctx);
    net.forward_eval(ctx, x, z);
    check_finite_logits(ctx, z, b * batch);  // NaN logits would count as "no lesion"
    Tensor<int64_t, D> counts(Shape{x.shape().n(), 4}, ctx);
    confusion_counts(ctx, z, y, counts);
    acc.add(host_view(ctx, counts));
    if (literature) {
      Tensor<T, D> p(z.shape(), ctx);
      sigmoid_forward(ctx, z, p);
      const Tensor<T, Cpu> hp = host_view(ctx, p);
      literature->add_slices(hp.data(), hb.masks.data(), z.shape().n(), z.shape().h() * z.shape().w());
    }
  }
  return acc;
}

// An ensemble (infer/ensemble.hpp): every figure of the members' mean probabilities. One member is
// evaluate(ctx, nets[0], ...).
template <class T, class D>
MetricsAccumulator evaluate(Context<D>& ctx, std::vector<SrmdsNet<T, D>>& nets, const SliceDataset& data, int batch,
                            InfNetMetrics* literature = nullptr, bool tta = false) {
  SRMDS_CHECK(!nets.empty(), "evaluate: an ensemble of no networks");
  if (nets.size() == 1) return evaluate(ctx, nets.front(), data, batch, literature, tta);
  SRMDS_CHECK(batch > 0, "evaluate: batch " << batch << " must be positive");
  MetricsAccumulator acc;
  for (int64_t b = 0; b < data.num_batches(batch); ++b) {
    const SliceBatch hb = data.batch(b, batch);
    add_probabilities(acc, literature, predict_probability(ctx, nets, hb.images, batch, tta), hb.masks);
  }
  return acc;
}

}  // namespace srmds
