// The BatchNorm statistics reducer of a data-parallel run with synchronised BatchNorm (--sync-bn):
// the sums of ops/batch_stats_reducer.hpp all-reduced over the communicator's ranks (host doubles).
#pragma once

#include "srmds/dist/communicator.hpp"
#include "srmds/ops/batch_stats_reducer.hpp"

namespace srmds::dist {

class CommunicatorBatchStats final : public BatchStatsReducer {
public:
  explicit CommunicatorBatchStats(Communicator& comm) : m_comm(comm) {
    SRMDS_CHECK(!comm.device_buffers(), "synchronised BatchNorm: the " << comm.name()
                                            << " communicator reduces device buffers; the BN sums are host doubles");
  }
  void sum(double* values, int64_t count) override { m_comm.all_reduce(values, count, ReduceOp::Sum); }

private:
  Communicator& m_comm;
};

}  // namespace srmds::dist
