// require_same_on_every_rank (dist/state_sync.hpp): rank 0's checksum is broadcast; every rank
// sets its own slot of a vector of N flags (1: differs), which an all-reduce gives to every rank, so
// every rank reaches the same verdict and throws (or returns) together.
#include "srmds/dist/state_sync.hpp"

#include <sstream>
#include <vector>

namespace srmds::dist {

void require_same_on_every_rank(Communicator& comm, uint64_t checksum, const std::string& what) {
  if (comm.world_size() == 1) return;
  uint64_t root = checksum;
  comm.broadcast(&root, sizeof root, 0);
  std::vector<double> differs(static_cast<size_t>(comm.world_size()), 0.0);
  differs[static_cast<size_t>(comm.rank())] = checksum == root ? 0.0 : 1.0;
  comm.all_reduce(differs.data(), static_cast<int64_t>(differs.size()), ReduceOp::Sum);
  std::ostringstream ranks;
  int count = 0;
  for (size_t r = 0; r < differs.size(); ++r)
    if (differs[r] != 0) ranks << (count++ ? ", " : "") << r;
  if (count > 0)
    SRMDS_THROW(what << " on rank" << (count == 1 ? " " : "s ") << ranks.str() << " differ from rank 0's ("
                     << comm.world_size() << " ranks, " << comm.name() << ")");
}

}  // namespace srmds::dist
