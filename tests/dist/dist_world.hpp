// The communicator of a data-parallel test program (run under mpirun -np 2 by ctest) and the seed
// every rank shares: rank 0's fresh seed (SRMDS_TEST_SEED sets it), broadcast and printed once.
#pragma once

#include <cstdio>
#include <memory>

#include "support/testing.hpp"
#include "srmds/dist/communicator.hpp"

namespace srmds::test {

inline dist::Communicator& world() {
  static const std::unique_ptr<dist::Communicator> comm = dist::make_communicator();
  return *comm;
}

inline uint64_t shared_seed() {
  uint64_t seed = fresh_seed();
  world().broadcast(&seed, sizeof seed, 0);
  if (world().rank() == 0) std::printf("seed %llu (SRMDS_TEST_SEED reproduces it)\n", static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  return seed;
}

}  // namespace srmds::test
