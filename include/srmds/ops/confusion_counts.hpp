// Per-image confusion counts of logits against a mask (SPEC §4):
//   predicted = z >= 0 (p >= 0.5), lesion = mask >= 0.5
//   counts[n] = (TP, FP, TN, FN) of image n, int64 (columns as ConfusionColumn, metrics/confusion.hpp).
// Reading the counts (counts_row, MetricsAccumulator) is in metrics/.
#pragma once

#include "srmds/cpu/confusion.hpp"
#include "srmds/ops/dispatch.hpp"

namespace srmds {

template <class T, class D>
void confusion_counts(Context<D>& ctx, const Tensor<T, D>& z,  // (N, 1, H, W) logits
                      const Tensor<T, D>& mask,                // (N, 1, H, W)
                      Tensor<int64_t, D>& counts) {            // (N, 4)
  (void)ctx;
  detail::check_rank4("confusion_counts", "z", z);
  SRMDS_CHECK(z.shape().c() == 1, "confusion_counts: z " << z.shape() << " must have one channel");
  detail::check_same_shape("confusion_counts", "z", z, "mask", mask);
  detail::check_shape("confusion_counts", "counts", counts, Shape{z.shape().n(), 4});
  SRMDS_DISPATCH(D, cpu::confusion_counts(z, mask, counts), cuda::confusion_counts(ctx, z, mask, counts));
}

}  // namespace srmds
