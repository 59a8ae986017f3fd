// The trainer on the device under test: each step's loss stays on the device and is read once per
// logging interval (train/trainer.hpp). The losses read every step and every second step are the
// same, bit for bit (deterministic kernels and cuDNN algorithms), and on a GPU the host waits once
// per interval: no wait inside a step (goal of issue 20: at most one host sync per logging interval).
#include <cstring>
#include <vector>

#include "parity.hpp"
#include "support/memory_train_fixture.hpp"
#if !SRMDS_CUDA_STANDIN
#include "srmds/cuda/counters.hpp"
#endif

using namespace srmds;
using namespace srmds::test;

namespace {

struct Reads {
  std::vector<double> history;
  std::vector<int64_t> syncs, launches;  // counted at each progress report (GPU)
};

Reads train_on_device(Context<Dut>& g, MemoryTrainFixture& f, int log_every) {
  TrainOptions o = f.to;
  o.epochs = 1;
  o.log_every = log_every;
  o.checkpoint_path.clear();
  o.best_path.clear();
  SrmdsNet<float, Dut> net(g, f.cfg, NetForm::Train, 4);
  Trainer<float, Dut> t(g, net, o);
  Reads r;
  t.on_progress = [&](const TrainProgress&) {
#if !SRMDS_CUDA_STANDIN
    const cuda::WorkCounts n = cuda::work_counts();
    r.syncs.push_back(n.host_syncs);
    r.launches.push_back(n.kernels + n.library_calls);
#endif
  };
  t.fit(f.data.train, nullptr);
  r.history = t.loss_history();
  return r;
}

}  // namespace

TEST_CASE("the trainer reads the device-side losses once per logging interval", "[cuda][net][counts]") {
  Gpu gpu;
  MemoryTrainFixture f(4);  // 8 slices of 32 x 32, batch 2: 4 steps
  REQUIRE(f.data.train.num_batches(f.to.batch) == 4);
  const Reads every = train_on_device(gpu.ctx, f, 1);
  const Reads pairs = train_on_device(gpu.ctx, f, 2);
  REQUIRE(every.history.size() == 4);
  REQUIRE(pairs.history.size() == 4);
  CHECK(std::memcmp(every.history.data(), pairs.history.data(), 4 * sizeof(double)) == 0);
  for (double l : pairs.history) CHECK(std::isfinite(l));
#if !SRMDS_CUDA_STANDIN
  // Between the reports after steps 2 and 4: two steps and one read of their losses.
  REQUIRE(pairs.syncs.size() == 2);
  CHECK(pairs.syncs[1] - pairs.syncs[0] == 1);
  REQUIRE(every.syncs.size() == 4);
  for (size_t k = 1; k < every.syncs.size(); ++k) CHECK(every.syncs[k] - every.syncs[k - 1] == 1);
  INFO("launches (kernels + cuDNN calls) per step, base 4: " << (pairs.launches[1] - pairs.launches[0]) / 2);
  CHECK(pairs.launches[1] - pairs.launches[0] > 0);
#endif
}
