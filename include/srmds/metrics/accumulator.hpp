// Gathers per-image confusion counts over a set of images and reports the four metrics of
// SPEC §4 both ways:
//   micro:     the metrics of the counts pooled over every pixel of the set;
//   per-image: the mean over images of each image's metrics (0/0 cases as in metrics/confusion.hpp,
//              so an image with no lesion and no prediction has Dice 1).
// With no image added the per-image means are NaN (the table prints "-").
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "srmds/metrics/confusion_counts.hpp"

namespace srmds {

struct MetricValues {
  double sensitivity = 0, specificity = 0, precision = 0, dice = 0;
};

inline MetricValues metric_values(const Confusion& c) {
  return MetricValues{c.sensitivity(), c.specificity(), c.precision(), c.dice()};
}

class MetricsAccumulator {
public:
  void add(const Confusion& image) {
    SRMDS_CHECK(image.tp >= 0 && image.fp >= 0 && image.tn >= 0 && image.fn >= 0,
                "MetricsAccumulator::add: negative count (" << image.tp << ", " << image.fp << ", " << image.tn
                                                            << ", " << image.fn << ")");
    m_images.push_back(image);
    m_pooled += image;
  }
  // Every row of a host counts tensor (N, 4) from confusion_counts() (copy device counts first).
  void add(const Tensor<int64_t, Cpu>& counts) {
    SRMDS_CHECK(counts.shape().rank() == 2 && counts.shape()[1] == 4,
                "MetricsAccumulator::add: counts " << counts.shape() << " expected (N, 4)");
    for (int64_t n = 0; n < counts.shape()[0]; ++n) add(counts_row(counts, n));
  }
  void reset() {
    m_images.clear();
    m_pooled = Confusion{};
  }

  int64_t images() const { return static_cast<int64_t>(m_images.size()); }
  const std::vector<Confusion>& per_image() const { return m_images; }
  const Confusion& pooled() const { return m_pooled; }

  MetricValues micro() const { return metric_values(m_pooled); }
  MetricValues per_image_mean() const {
    if (m_images.empty()) {
      const double nan = std::numeric_limits<double>::quiet_NaN();
      return MetricValues{nan, nan, nan, nan};
    }
    MetricValues sum;
    for (const Confusion& c : m_images) {
      sum.sensitivity += c.sensitivity();
      sum.specificity += c.specificity();
      sum.precision += c.precision();
      sum.dice += c.dice();
    }
    const double k = static_cast<double>(m_images.size());
    return MetricValues{sum.sensitivity / k, sum.specificity / k, sum.precision / k, sum.dice / k};
  }

private:
  std::vector<Confusion> m_images;
  Confusion m_pooled;
};

}  // namespace srmds
