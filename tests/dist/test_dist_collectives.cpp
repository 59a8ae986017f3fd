// The communicator's collectives and the pieces built on them (dist/), run under
// `mpirun -np 2` (tests/dist/CMakeLists.txt): all-reduce sum and average of float and double
// against a naive sum of every rank's values (each rank regenerates the others' values from the
// shared seed), on sizes that are not multiples of any bucket and on empty buffers; broadcast from
// every root; the gradient reducer on many small tensors with buckets of 1, 3, 64, 1000 values and
// the default; state broadcast, averaging and the same-state check; gathering validation counts.
//
// Bound of a float sum over N ranks: |computed - exact| <= (N - 1) eps sum_r |x_r| (each of the
// N - 1 additions rounds once, relative to a partial sum bounded by sum |x_r|), with eps = 2^-24
// (2^-53 for double); the average adds one rounding of the division, eps |mean|.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "dist_world.hpp"
#include "srmds/core/named_tensor.hpp"
#include "srmds/dist/gather_metrics.hpp"
#include "srmds/dist/gradient_reducer.hpp"
#include "srmds/dist/state_sync.hpp"

using namespace srmds;
using srmds::test::shared_seed;
using srmds::test::world;

namespace {

// Rank r's values for a buffer of n values (the same on every rank that asks).
template <class T>
std::vector<T> values_of(uint64_t seed, int rank, int64_t n) {
  Rng rng(seed * 7919 + static_cast<uint64_t>(rank) * 104729 + static_cast<uint64_t>(n));
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = static_cast<T>(rng.uniform(-1000, 1000) * std::pow(10.0, rng.uniform(-3, 1)));
  return v;
}

template <class T>
void check_all_reduce(uint64_t seed, int64_t n, dist::ReduceOp op) {
  auto& comm = world();
  const int N = comm.world_size();
  std::vector<T> got = values_of<T>(seed, comm.rank(), n);
  comm.all_reduce(got.data(), n, op);
  std::vector<double> exact(static_cast<size_t>(n), 0.0), magnitude(static_cast<size_t>(n), 0.0);
  for (int r = 0; r < N; ++r) {
    const std::vector<T> v = values_of<T>(seed, r, n);
    for (int64_t i = 0; i < n; ++i) exact[i] += v[i], magnitude[i] += std::fabs(static_cast<double>(v[i]));
  }
  const double eps = std::numeric_limits<T>::epsilon() / 2;
  const bool average = op == dist::ReduceOp::Average;
  int64_t bad = 0;
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double ref = average ? exact[i] / N : exact[i];
    const double bound = (N - 1) * eps * magnitude[i] / (average ? N : 1) + (average ? eps * std::fabs(ref) : 0) + 1e-300;
    const double err = std::fabs(static_cast<double>(got[i]) - ref);
    worst = std::max(worst, err / bound);
    if (err > bound) ++bad;
  }
  INFO("n " << n << (average ? " average" : " sum") << " sizeof(T) " << sizeof(T) << ", worst error / bound " << worst);
  CHECK(bad == 0);
  if (n > 0 && N > 1) {  // not trivially: the result is not this rank's own input
    const std::vector<T> own = values_of<T>(seed, comm.rank(), n);
    CHECK(std::memcmp(own.data(), got.data(), sizeof(T) * static_cast<size_t>(n)) != 0);
  }
}

}  // namespace

TEST_CASE("dist: the world is the one mpirun started", "[dist]") {
  auto& comm = world();
  REQUIRE(dist::launched_world_size() == comm.world_size());
  REQUIRE(comm.world_size() >= 2);
  REQUIRE(std::string(comm.name()) == "MPI");
  double ranks[2] = {static_cast<double>(comm.rank()), 1.0};
  comm.all_reduce(ranks, 2, dist::ReduceOp::Sum);
  const int N = comm.world_size();
  CHECK(ranks[0] == N * (N - 1) / 2.0);  // every rank number once
  CHECK(ranks[1] == N);
  CHECK(comm.local_rank() >= 0);
  CHECK(comm.local_rank() < N);
  comm.barrier();
}

TEST_CASE("dist: all-reduce sum and average of float and double against a naive sum", "[dist]") {
  const uint64_t seed = shared_seed();
  for (const int64_t n : {int64_t(0), int64_t(1), int64_t(2), int64_t(7), int64_t(1000), int64_t(4097), int64_t(100003)})
    for (const auto op : {dist::ReduceOp::Sum, dist::ReduceOp::Average}) {
      check_all_reduce<float>(seed, n, op);
      check_all_reduce<double>(seed, n, op);
    }
}

TEST_CASE("dist: empty buffers and bad arguments", "[dist]") {
  auto& comm = world();
  comm.all_reduce(static_cast<float*>(nullptr), 0, dist::ReduceOp::Sum);  // nothing to do, no error
  comm.broadcast(nullptr, 0, 0);
  float x = 1;
  CHECK_THROWS_WITH(comm.all_reduce(&x, -1, dist::ReduceOp::Sum), Catch::Contains("count -1 < 0"));
  CHECK_THROWS_WITH(comm.all_reduce(static_cast<double*>(nullptr), 3, dist::ReduceOp::Sum), Catch::Contains("null buffer"));
  CHECK_THROWS_WITH(comm.broadcast(&x, sizeof x, comm.world_size()), Catch::Contains("is not a rank"));
}

TEST_CASE("dist: broadcast from every root", "[dist]") {
  auto& comm = world();
  const uint64_t seed = shared_seed();
  for (int root = 0; root < comm.world_size(); ++root)
    for (const int64_t n : {int64_t(0), int64_t(1), int64_t(13), int64_t(70001)}) {
      std::vector<double> v = values_of<double>(seed, comm.rank(), n);
      comm.broadcast(v.data(), n * static_cast<int64_t>(sizeof(double)), root);
      const std::vector<double> want = values_of<double>(seed, root, n);
      INFO("root " << root << " n " << n);
      CHECK((n == 0 || std::memcmp(v.data(), want.data(), sizeof(double) * static_cast<size_t>(n)) == 0));
    }
}

TEMPLATE_TEST_CASE("dist: the gradient reducer sums n_r / n-weighted gradients of many small tensors", "[dist]", float,
                   double) {
  using T = TestType;
  auto& comm = world();
  const int N = comm.world_size();
  const uint64_t seed = shared_seed();
  Context<Cpu> ctx;
  // 60 parameters of 1 to 300 values (and one buffer, which the reducer leaves alone).
  Rng shapes(seed);
  std::vector<Tensor<T, Cpu>> values, grads;
  for (int i = 0; i < 60; ++i) {
    const int64_t n = 1 + static_cast<int64_t>(shapes.uniform() * 300);
    values.emplace_back(Shape{n});
    grads.emplace_back(Shape{n});
  }
  Tensor<T, Cpu> buffer(Shape{5});
  for (const int64_t bucket : {int64_t(1), int64_t(3), int64_t(64), int64_t(1000),
                               dist::GradientReducer<T, Cpu>::kDefaultBucketValues}) {
    StateList<T, Cpu> list;
    for (size_t i = 0; i < grads.size(); ++i) {
      const std::vector<T> g = values_of<T>(seed + i, comm.rank(), grads[i].numel());
      std::memcpy(grads[i].data(), g.data(), g.size() * sizeof(T));
      list.push_back({"p" + std::to_string(i), &values[i], &grads[i]});
    }
    buffer[0] = static_cast<T>(comm.rank() + 1);
    list.push_back({"buffer", &buffer, nullptr});
    dist::GradientReducer<T, Cpu> reducer(comm, list, bucket);
    // Shards of 3, 5, ... slices: rank r's weight is n_r / n.
    const auto shard = [](int r) { return 3.0 + 2.0 * r; };
    double n = 0;
    for (int r = 0; r < N; ++r) n += shard(r);
    reducer.reduce(ctx, shard(comm.rank()) / n);
    CHECK(reducer.values() > 60);
    CHECK(reducer.buckets() == (reducer.values() + bucket - 1) / bucket);
    int64_t bad = 0, total = 0;
    for (size_t i = 0; i < grads.size(); ++i) {
      std::vector<double> exact(static_cast<size_t>(grads[i].numel()), 0.0), mag = exact;
      for (int r = 0; r < N; ++r) {
        const std::vector<T> g = values_of<T>(seed + i, r, grads[i].numel());
        const T w = static_cast<T>(shard(r) / n);
        for (size_t k = 0; k < g.size(); ++k) {
          exact[k] += static_cast<double>(w) * g[k];
          mag[k] += std::fabs(static_cast<double>(w) * g[k]);
        }
      }
      const double eps = std::numeric_limits<T>::epsilon() / 2;
      for (size_t k = 0; k < exact.size(); ++k, ++total)  // the scaling rounds once, then N - 1 additions
        if (std::fabs(grads[i][static_cast<int64_t>(k)] - exact[k]) > (N + 1) * eps * mag[k] + 1e-300) ++bad;
    }
    INFO("bucket " << bucket << ", " << total << " values");
    CHECK(bad == 0);
    CHECK(buffer[0] == static_cast<T>(comm.rank() + 1));
  }
  const StateList<T, Cpu> none;
  CHECK_THROWS_WITH((dist::GradientReducer<T, Cpu>(comm, none, 0)), Catch::Contains("bucket size 0"));
}

TEST_CASE("dist: state broadcast, averaging and the same-state check", "[dist]") {
  auto& comm = world();
  const int N = comm.world_size();
  Context<Cpu> ctx;
  Tensor<float, Cpu> w(Shape{2, 3, 1, 1}), g(Shape{2, 3, 1, 1}), mean(Shape{4});
  for (int64_t i = 0; i < w.numel(); ++i) w[i] = static_cast<float>(comm.rank() * 100 + i);
  for (int64_t i = 0; i < mean.numel(); ++i) mean[i] = static_cast<float>(comm.rank() + i);
  const StateList<float, Cpu> weights{{"w", &w, &g}}, buffers{{"mean", &mean, nullptr}};
  // Different on every rank: every rank throws, naming the others.
  CHECK_THROWS_WITH(dist::require_same_on_every_rank(comm, dist::state_checksum(ctx, weights), "the weights"),
                    Catch::Contains(std::string("the weights on rank") + (N > 2 ? "s 1, 2" : " 1") +
                                    " differ from rank 0's"));
  dist::broadcast_state(ctx, comm, weights, 0);
  for (int64_t i = 0; i < w.numel(); ++i) CHECK(w[i] == static_cast<float>(i));
  CHECK_NOTHROW(dist::require_same_on_every_rank(comm, dist::state_checksum(ctx, weights), "the weights"));
  dist::average_state(ctx, comm, buffers);
  for (int64_t i = 0; i < mean.numel(); ++i) CHECK(mean[i] == static_cast<float>(i + (N - 1) / 2.0));
}

TEST_CASE("dist: validation counts gathered in rank order", "[dist]") {
  auto& comm = world();
  MetricsAccumulator local;
  for (int i = 0; i <= comm.rank(); ++i)  // rank r adds r + 1 images (rank 0's shard may be the smallest)
    local.add(Confusion{comm.rank() * 10 + i, 1, 100, 2});
  const MetricsAccumulator all = dist::gather_metrics(comm, local);
  std::vector<int64_t> want;
  for (int r = 0; r < comm.world_size(); ++r)
    for (int i = 0; i <= r; ++i) want.push_back(r * 10 + i);
  REQUIRE(all.images() == static_cast<int64_t>(want.size()));
  for (size_t k = 0; k < want.size(); ++k) CHECK(all.per_image()[k].tp == want[k]);
  CHECK(all.pooled().tn == 100 * static_cast<int64_t>(want.size()));
  MetricsAccumulator none;  // a rank without validation slices
  const MetricsAccumulator some = dist::gather_metrics(comm, comm.rank() == 0 ? none : local);
  CHECK(some.images() == all.images() - 1);
}
