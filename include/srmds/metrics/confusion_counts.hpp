// Reading per-image confusion counts: counts_row() turns one row (TP, FP, TN, FN) of a host counts
// tensor (N, 4), as written by the confusion_counts op (ops/confusion_counts.hpp, included here),
// into a Confusion.
#pragma once

#include "srmds/metrics/confusion.hpp"
#include "srmds/ops/confusion_counts.hpp"

namespace srmds {

// Row n of a host counts tensor (N, 4).
inline Confusion counts_row(const Tensor<int64_t, Cpu>& counts, int64_t n) {
  SRMDS_CHECK(counts.shape().rank() == 2 && counts.shape()[1] == 4 && n >= 0 && n < counts.shape()[0],
              "counts_row: row " << n << " of counts " << counts.shape() << " (expected (N, 4))");
  const int64_t* r = counts.data() + 4 * n;
  return Confusion{r[kTP], r[kFP], r[kTN], r[kFN]};
}

}  // namespace srmds
