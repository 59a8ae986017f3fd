// The trainer keeps each step's loss on the device and reads the unread ones once per logging
// interval and at each epoch's end (train/trainer.hpp): the history, the epoch losses and the
// progress reports do not depend on how often it reads, bit for bit, and a non-finite loss found
// at a later read is reported at the step that first produced it.
#include "support/testing.hpp"

#include <cstring>
#include <limits>
#include <vector>

#include "support/train_fixture.hpp"

using namespace srmds;
using srmds::test::TrainFixture;

namespace {

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

struct Run {
  std::vector<double> history, epoch_losses;
  std::vector<TrainProgress> reports;
};

Run train_with(TrainFixture& f, int log_every) {
  TrainOptions o = f.to;
  o.log_every = log_every;
  o.checkpoint_path.clear();
  o.best_path.clear();
  SrmdsNet<float, Cpu> net(f.ctx, f.cfg, NetForm::Train, 4);
  Trainer<float, Cpu> t(f.ctx, net, o);
  Run r;
  t.on_progress = [&](const TrainProgress& p) { r.reports.push_back(p); };
  for (const EpochReport& e : t.fit(f.data.train, nullptr)) r.epoch_losses.push_back(e.train_loss);
  r.history = t.loss_history();
  return r;
}

}  // namespace

TEST_CASE("train: the losses read once per logging interval are the losses read every step", "[train]") {
  TrainFixture f(4, 0);  // 8 slices, batch 2: 4 steps per epoch, 2 epochs
  REQUIRE(f.data.train.num_batches(f.to.batch) == 4);
  const Run every = train_with(f, 1);
  REQUIRE(every.history.size() == 8);
  REQUIRE(every.reports.size() == 8);
  for (int log_every : {3, 0, 100}) {
    INFO("log_every " << log_every);
    const Run r = train_with(f, log_every);
    CHECK(same_bits(r.history, every.history));
    CHECK(same_bits(r.epoch_losses, every.epoch_losses));
    // One report per read: after steps 3, 4 (epoch end), 6, 8 with log_every 3; at epoch ends otherwise.
    std::vector<int64_t> want_steps = log_every == 3 ? std::vector<int64_t>{3, 4, 6, 8} : std::vector<int64_t>{4, 8};
    REQUIRE(r.reports.size() == want_steps.size());
    size_t from = 0;
    for (size_t k = 0; k < r.reports.size(); ++k) {
      CHECK(r.reports[k].step == want_steps[k]);
      // the mean over the steps since the previous report, summed in step order
      const size_t to = static_cast<size_t>(want_steps[k]);
      double sum = 0;
      for (size_t i = from; i < to; ++i) sum += every.history[i];
      CHECK(r.reports[k].loss == sum / static_cast<double>(to - from));
      from = to;
    }
  }
}

TEST_CASE("train: a non-finite loss found at a later read names the step that produced it", "[train]") {
  TrainFixture f(4, 0);
  TrainOptions o = f.to;
  o.checkpoint_path.clear();
  o.best_path.clear();
  for (int log_every : {2, 0}) {
    INFO("log_every " << log_every);
    o.log_every = log_every;
    SrmdsNet<float, Cpu> net(f.ctx, f.cfg, NetForm::Train, 4);
    Trainer<float, Cpu> t(f.ctx, net, o);
    const auto poison = [&] {
      for (const auto& nt : net.state())
        if (nt.name == "head0.weight") (*nt.value)[1] = std::numeric_limits<float>::quiet_NaN();
    };
    // log_every 2: poisoned after the report at step 2, found at the read after step 4 (epoch 1);
    // log_every 0: poisoned after epoch 1 (its weights checked and reported), found at the end of
    // epoch 2 (steps 4 to 7).
    if (log_every == 2)
      t.on_progress = [&](const TrainProgress& p) {
        if (p.step == 2) poison();
      };
    else
      t.on_epoch = [&](const EpochReport& e) {
        if (e.epoch == 0) poison();
      };
    const std::string want = log_every == 2 ? "at step 2 (epoch 1)" : "at step 4 (epoch 2)";
    CHECK_THROWS_WITH(t.fit(f.data.train, nullptr), Catch::Contains("training stopped: non-finite loss") &&
                                                        Catch::Contains(want) &&
                                                        Catch::Contains("no checkpoint was written before it"));
    // The history holds the finite losses read before, and nothing after.
    CHECK(t.loss_history().size() == (log_every == 2 ? 2u : 4u));
    for (double l : t.loss_history()) CHECK(std::isfinite(l));
  }
}
