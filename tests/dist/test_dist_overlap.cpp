// Overlapped gradient reduction (issue 23): buckets all-reduced with non-blocking calls while the
// backward pass runs give exactly what the reduction after the pass gives. Run under `mpirun -np 2`
// (tests/dist/CMakeLists.txt).
//
// Both ways use the same buckets (reverse parameter order), so each value is the same sum of the
// same scaled terms; with 2 ranks that sum is a + b whatever the algorithm, so the results are
// compared bit for bit.
//   - The reducer alone: 80 float tensors of 0 to 5,000 values (empty ones included), buckets of
//     97, 500, 4,096, 65,536 values and the default, the hook called for random groups of parameters in
//     reverse order (some never reported: finish() starts the rest), against reduce() after the pass;
//     and a zero share (a rank with no slice) gives zeros even where its gradient is NaN.
//   - The communicator: non-blocking all-reduces of 0 to 100,003 values in flight together, with a
//     blocking collective between them and waited for out of order, against the blocking sums.
//   - Training: 2-rank Trainer::fit runs with overlap_reduce on and off (per-rank and synchronised
//     BatchNorm) end with the same weights, BN statistics and Adam moments, bit for bit.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "dist_world.hpp"
#include "support/temp_dir.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/dist/gradient_reducer.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"

using namespace srmds;
using srmds::test::shared_seed;
using srmds::test::TempDir;
using srmds::test::world;

namespace {

struct Params {
  std::vector<Tensor<float, Cpu>> values, grads;
  StateList<float, Cpu> list;
};

// The same shapes on every rank (from the shared seed), this rank's gradient values.
void make_params(Params& p, uint64_t seed, int rank) {
  Rng shapes(seed);
  for (int i = 0; i < 80; ++i) {
    const double u = shapes.uniform();
    const int64_t n = u < 0.1 ? 0 : static_cast<int64_t>(shapes.uniform() * 5000);
    p.values.emplace_back(Shape{n});
    p.grads.emplace_back(Shape{n});
  }
  Rng rng(seed * 31 + static_cast<uint64_t>(rank) + 1);
  for (size_t i = 0; i < p.grads.size(); ++i) {
    for (int64_t k = 0; k < p.grads[i].numel(); ++k)
      p.grads[i][k] = static_cast<float>(rng.uniform(-1, 1) * std::pow(10.0, rng.uniform(-4, 2)));
    p.list.push_back({"p" + std::to_string(i), &p.values[i], &p.grads[i]});
  }
}

std::vector<float> flat(const std::vector<Tensor<float, Cpu>>& ts) {
  std::vector<float> out;
  for (const auto& t : ts) out.insert(out.end(), t.data(), t.data() + t.numel());
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("dist: overlapped bucket reduction equals the reduction after the backward pass, bit for bit", "[dist]") {
  auto& comm = world();
  const uint64_t seed = shared_seed();
  Context<Cpu> ctx;
  const double share = comm.rank() == 0 ? 0.375 : 0.625;
  for (const int64_t bucket : {int64_t(97), int64_t(500), int64_t(4096), int64_t(65536),
                               dist::GradientReducer<float, Cpu>::kDefaultBucketValues}) {
    INFO("bucket " << bucket);
    Params after, overlapped;
    make_params(after, seed, comm.rank());
    make_params(overlapped, seed, comm.rank());
    dist::GradientReducer<float, Cpu> r_after(comm, after.list, bucket, false);
    r_after.reduce(ctx, share);

    dist::GradientReducer<float, Cpu> r_over(comm, overlapped.list, bucket, true);
    REQUIRE(r_over.overlapped());
    r_over.begin(share);
    Rng groups(seed + static_cast<uint64_t>(bucket));  // the same groups on every rank
    int64_t k = static_cast<int64_t>(overlapped.list.size());
    while (k > 0) {  // reverse order, random group sizes; about one parameter in 20 is never reported
      const int64_t size = 1 + static_cast<int64_t>(groups.uniform() * 6);
      StateList<float, Cpu> group;
      for (int64_t j = 0; j < size && k > 0; ++j) {
        --k;
        if (groups.uniform() >= 0.05) group.push_back(overlapped.list[static_cast<size_t>(k)]);
      }
      r_over.grads_final(ctx, group);
    }
    r_over.finish(ctx);
    CHECK(same_bits(flat(after.grads), flat(overlapped.grads)));
    CHECK(r_over.exposed_seconds() <= r_over.seconds());
  }
}

TEST_CASE("dist: non-blocking all-reduces in flight together, a blocking one between them, equal the blocking sums",
          "[dist]") {
  auto& comm = world();
  const uint64_t seed = shared_seed();
  const std::vector<int64_t> sizes{0, 1, 13, 4096, 100003};
  std::vector<std::vector<float>> started, blocking;
  Rng rng(seed * 7 + static_cast<uint64_t>(comm.rank()));
  for (const int64_t n : sizes) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = static_cast<float>(rng.uniform(-1, 1) * std::pow(10.0, rng.uniform(-3, 3)));
    started.push_back(v);
    blocking.push_back(v);
  }
  std::vector<std::unique_ptr<dist::Request>> requests;
  for (auto& v : started) requests.push_back(comm.all_reduce_start(v.data(), static_cast<int64_t>(v.size())));
  double between = comm.rank() + 1.0;  // a blocking collective while they are in flight
  comm.all_reduce(&between, 1, dist::ReduceOp::Sum);
  CHECK(between == comm.world_size() * (comm.world_size() + 1) / 2.0);
  for (auto& r : requests) r->test();
  for (size_t k = requests.size(); k-- > 0;) requests[k]->wait();  // waited for out of order
  for (size_t k = 0; k < sizes.size(); ++k) {
    comm.all_reduce(blocking[k].data(), sizes[k], dist::ReduceOp::Sum);
    INFO("size " << sizes[k]);
    CHECK(same_bits(started[k], blocking[k]));  // 2 ranks: a + b either way
    CHECK(requests[k]->test());
  }
}

TEST_CASE("dist: a zero share contributes zeros even from a NaN gradient", "[dist]") {
  auto& comm = world();
  Context<Cpu> ctx;
  for (const bool overlap : {false, true}) {
    Tensor<float, Cpu> v(Shape{3}), g(Shape{3});
    for (int64_t i = 0; i < 3; ++i) g[i] = comm.rank() == 0 ? std::numeric_limits<float>::quiet_NaN() : float(i + 1);
    StateList<float, Cpu> list{{"w", &v, &g}};
    dist::GradientReducer<float, Cpu> reducer(comm, list, 2, overlap);
    reducer.reduce(ctx, comm.rank() == 0 ? 0.0 : 1.0);
    for (int64_t i = 0; i < 3; ++i) CHECK(g[i] == float(i + 1));
  }
}

TEST_CASE("dist: training with overlapped reduction ends bit for bit where reduction after the pass does",
          "[dist]") {
  auto& comm = world();
  const uint64_t seed = shared_seed() % 1000000;
  TempDir dir("dist_overlap");
  std::vector<std::string> images, masks;
  for (const PhantomFiles& f : write_phantom_dataset(dir.file("data"), 4, 32, seed, 5)) {
    images.push_back(f.image);
    masks.push_back(f.mask);
  }
  NetConfig cfg;
  cfg.base = 4;
  cfg.input_size = {32, 32};
  for (const bool sync_bn : {false, true}) {
    INFO("sync_bn " << sync_bn);
    std::vector<std::vector<float>> states;
    for (const bool overlap : {false, true}) {
      TrainData data = load_train_data(images, masks, SliceDataOptions::from_config(cfg), 0.25, seed, true);
      Context<Cpu> ctx;
      SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, seed);
      TrainOptions to;
      to.epochs = 2;
      to.batch = 7;  // 15 slices: batches of 7, 7 and 1 (an empty shard on rank 0), shards of 3 and 4
      to.optimizer.lr = 1e-2;
      to.log_every = 0;
      to.communicator = &comm;
      to.sync_bn = sync_bn;
      to.overlap_reduce = overlap;
      Trainer<float, Cpu> trainer(ctx, net, to);
      trainer.fit(data.train, &data.val);
      std::vector<float> s;
      for (const auto& e : net.state()) s.insert(s.end(), e.value->data(), e.value->data() + e.value->numel());
      for (const auto& e : trainer.optimizer_state()) s.insert(s.end(), e.value->data(), e.value->data() + e.value->numel());
      states.push_back(s);
      if (overlap) CHECK(trainer.exposed_communication_seconds() <= trainer.communication_seconds());
    }
    CHECK(same_bits(states[0], states[1]));
  }
}
