// Lesion label selection (SPEC §7): a voxel is lesion when its label is in the configured set
// (default {1, 2}: ground-glass and consolidation in the MedSeg COVID-19 set); with an empty set,
// any label > 0 is lesion (binary masks). Mask values are rounded to the nearest integer label
// first (stored masks may be float); NaN is background.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
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

// A warning when a mask has non-zero voxels but none of them carries a label of the set (a 0/255
// mask read with labels {1}: every voxel would be background, Dice 0 without a word); empty when
// the set is empty (any > 0) or matches a voxel, or the mask is all background.
inline std::string unmatched_labels_warning(const float* labels, int64_t n, const std::vector<int>& lesion_labels,
                                            const std::string& mask_path) {
  if (lesion_labels.empty()) return "";
  std::set<double> found;  // the first few distinct non-zero labels, for the message
  int64_t nonzero = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (is_lesion_label(labels[i], lesion_labels)) return "";
    const double r = std::isnan(labels[i]) ? 0.0 : std::nearbyint(static_cast<double>(labels[i]));
    if (r == 0) continue;
    ++nonzero;
    if (found.size() < 8) found.insert(r);
  }
  if (nonzero == 0) return "";
  std::ostringstream os;
  os << "mask '" << mask_path << "': none of its " << nonzero << " non-zero voxels has a lesion label (";
  for (size_t i = 0; i < lesion_labels.size(); ++i) os << (i ? ", " : "") << lesion_labels[i];
  os << "); it holds";
  for (const double v : found) os << ' ' << v;
  os << (found.size() == 8 ? " ..." : "") << ", so it counts as all background (choose the labels with --labels, or any)";
  return os.str();
}

}  // namespace srmds
