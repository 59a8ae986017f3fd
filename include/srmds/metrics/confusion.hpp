// Confusion counts of a binary segmentation and the four metrics of SPEC §4.
//   sensitivity = TP / (TP + FN)     specificity = TN / (TN + FP)
//   precision   = TP / (TP + FP)     Dice        = 2 TP / (2 TP + FP + FN)
// Cases with a zero denominator (this library's choices):
//   sensitivity 1 when TP + FN == 0 (no lesion: nothing was missed);
//   specificity 1 when TN + FP == 0 (no background: nothing was falsely flagged);
//   precision   1 when TP + FP == 0 and TP + FN == 0 (no lesion, no prediction: correct),
//               0 when TP + FP == 0 but there is a lesion (it was missed entirely);
//   Dice        1 when 2 TP + FP + FN == 0 (no lesion and no prediction, SPEC §4).
#pragma once

#include <cstdint>

namespace srmds {

struct Confusion {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;

  int64_t total() const { return tp + fp + tn + fn; }
  int64_t lesion() const { return tp + fn; }
  int64_t predicted() const { return tp + fp; }

  double sensitivity() const { return tp + fn == 0 ? 1.0 : static_cast<double>(tp) / static_cast<double>(tp + fn); }
  double specificity() const { return tn + fp == 0 ? 1.0 : static_cast<double>(tn) / static_cast<double>(tn + fp); }
  double precision() const {
    if (tp + fp == 0) return tp + fn == 0 ? 1.0 : 0.0;
    return static_cast<double>(tp) / static_cast<double>(tp + fp);
  }
  double dice() const {
    const int64_t den = 2 * tp + fp + fn;
    return den == 0 ? 1.0 : 2.0 * static_cast<double>(tp) / static_cast<double>(den);
  }

  Confusion& operator+=(const Confusion& o) {
    tp += o.tp;
    fp += o.fp;
    tn += o.tn;
    fn += o.fn;
    return *this;
  }
  bool operator==(const Confusion& o) const { return tp == o.tp && fp == o.fp && tn == o.tn && fn == o.fn; }
  bool operator!=(const Confusion& o) const { return !(*this == o); }
};

// Column order of a per-image counts tensor (N, 4).
enum ConfusionColumn : int { kTP = 0, kFP = 1, kTN = 2, kFN = 3 };

}  // namespace srmds
