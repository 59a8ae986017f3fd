// Lesion label selection (SPEC §7): a voxel is lesion when its label is in the configured set
// (default {1, 2}: ground-glass and consolidation in the MedSeg COVID-19 set); with an empty set,
// any label > 0 is lesion (binary masks). Mask values are rounded to the nearest integer label
// first (stored masks may be float); NaN is background.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace srmds {

inline bool is_lesion_label(float value, const std::vector<int>& lesion_labels) {
  if (std::isnan(value)) return false;
  const double r = std::nearbyint(static_cast<double>(value));
  if (lesion_labels.empty()) return r > 0;
  if (r < -2147483648.0 || r > 2147483647.0) return false;
  const int label = static_cast<int>(r);
  return std::find(lesion_labels.begin(), lesion_labels.end(), label) != lesion_labels.end();
}

// out[i] = 1 if labels[i] is lesion else 0, for n values.
inline void select_lesions(const float* labels, int64_t n, const std::vector<int>& lesion_labels, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = is_lesion_label(labels[i], lesion_labels) ? 1 : 0;
}

}  // namespace srmds
