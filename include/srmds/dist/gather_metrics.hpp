// Validation over the ranks of a data-parallel run: each rank evaluates a contiguous shard of the
// validation slices; gather_metrics() gives every rank the per-image confusion counts of all
// shards, in rank order, which is the order of the whole set. The pooled ("micro") and per-image
// metrics of the result are therefore those of one process evaluating every slice with the same
// weights (the counts are integers: nothing is rounded).
#pragma once

#include "srmds/dist/communicator.hpp"
#include "srmds/metrics/accumulator.hpp"

namespace srmds::dist {

MetricsAccumulator gather_metrics(Communicator& comm, const MetricsAccumulator& local);

}  // namespace srmds::dist
