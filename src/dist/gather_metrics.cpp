// gather_metrics (dist/gather_metrics.hpp): one broadcast of the image count and one of the counts
// (TP, FP, TN, FN as int64 per image) from each rank in turn.
#include "srmds/dist/gather_metrics.hpp"

#include <cstdint>
#include <vector>

namespace srmds::dist {

MetricsAccumulator gather_metrics(Communicator& comm, const MetricsAccumulator& local) {
  if (comm.world_size() == 1) return local;
  MetricsAccumulator all;
  for (int root = 0; root < comm.world_size(); ++root) {
    int64_t images = root == comm.rank() ? local.images() : 0;
    comm.broadcast(&images, sizeof images, root);
    SRMDS_CHECK(images >= 0, "gather_metrics: rank " << root << " sent " << images << " images");
    std::vector<int64_t> counts(static_cast<size_t>(images) * 4);
    if (root == comm.rank())
      for (int64_t i = 0; i < images; ++i) {
        const Confusion& c = local.per_image()[static_cast<size_t>(i)];
        counts[4 * i] = c.tp, counts[4 * i + 1] = c.fp, counts[4 * i + 2] = c.tn, counts[4 * i + 3] = c.fn;
      }
    comm.broadcast(counts.data(), static_cast<int64_t>(counts.size() * sizeof(int64_t)), root);
    for (int64_t i = 0; i < images; ++i) {
      Confusion c;
      c.tp = counts[4 * i], c.fp = counts[4 * i + 1], c.tn = counts[4 * i + 2], c.fn = counts[4 * i + 3];
      all.add(c);
    }
  }
  return all;
}

}  // namespace srmds::dist
