// The training step replayed from a CUDA Graph (TrainOptions::cuda_graph, train/trainer.hpp) against
// the eager step: the same network, batches and schedule trained with and without the graph end
// with the same weights, BN running statistics and Adam moments and the same per-step losses, bit
// for bit (the same kernels on the same data: only the batch, lr and bias corrections reach them
// through memory copied in before each launch). On a GPU each replayed step is one graph launch and
// no kernel, cuDNN call or host wait outside it (the report after it adds the loss read: one copy
// and one host wait), and a smaller last batch runs eagerly and drops the graph (captured again the
// next epoch). On the CPU stand-in the option runs the eager step: the same body, nothing captured.
// Also: adam_step_all reading lr and the bias corrections from device memory equals the parameter
// path bit for bit.
#include <cstring>
#include <vector>

#include "parity.hpp"
#include "srmds/optim/adam.hpp"
#include "support/memory_train_fixture.hpp"
#if !SRMDS_CUDA_STANDIN
#include "srmds/cuda/counters.hpp"
#endif

using namespace srmds;
using namespace srmds::test;

namespace {

struct Run {
  std::vector<double> losses;
  std::vector<std::pair<std::string, TH>> state;  // weights, BN statistics, Adam moments
  bool enabled = false;
  int captures = 0;
  int64_t replays = 0;
  std::string note;
  // Counted at each progress report (GPU): the work between two reports.
  std::vector<int64_t> step, kernels, library_calls, copies, host_syncs, graph_launches;
};

Run train(Context<Dut>& g, MemoryTrainFixture& f, const TrainOptions& base, uint64_t init_seed, bool graph) {
  TrainOptions o = base;
  o.cuda_graph = graph;
  o.checkpoint_path.clear();
  o.best_path.clear();
  SrmdsNet<float, Dut> net(g, f.cfg, NetForm::Train, init_seed);
  Trainer<float, Dut> t(g, net, o);
  Run r;
  t.on_progress = [&](const TrainProgress& p) {
    r.step.push_back(p.step);
#if !SRMDS_CUDA_STANDIN
    const cuda::WorkCounts n = cuda::work_counts();
    r.kernels.push_back(n.kernels);
    r.library_calls.push_back(n.library_calls);
    r.copies.push_back(n.copies);
    r.host_syncs.push_back(n.host_syncs);
    r.graph_launches.push_back(n.graph_launches);
#endif
  };
  t.fit(f.data.train, nullptr);
  r.losses = t.loss_history();
  for (const auto& e : net.state()) r.state.emplace_back(e.name, download(g, *e.value));
  for (const auto& e : t.optimizer_state()) r.state.emplace_back(e.name, download(g, *e.value));
  r.enabled = t.graph_enabled();
  r.captures = t.graph_captures();
  r.replays = t.graph_replays();
  r.note = t.graph_note();
  return r;
}

void require_same_run(const Run& eager, const Run& graph) {
  REQUIRE(eager.losses.size() == graph.losses.size());
  for (size_t i = 0; i < eager.losses.size(); ++i) {
    INFO("loss of step " << i << ": " << eager.losses[i] << " eager, " << graph.losses[i] << " graph");
    CHECK(std::memcmp(&eager.losses[i], &graph.losses[i], sizeof(double)) == 0);
  }
  REQUIRE(eager.state.size() == graph.state.size());
  for (size_t i = 0; i < eager.state.size(); ++i) {
    INFO(eager.state[i].first);
    CHECK(eager.state[i].first == graph.state[i].first);
    CHECK(same_bits(eager.state[i].second, graph.state[i].second));
  }
}

}  // namespace

TEST_CASE("a training step replayed from a CUDA Graph equals the eager step bit for bit", "[cuda][net][train_graph]") {
  Gpu gpu;
  Rng rng(fresh_seed());
  const uint64_t init_seed = rng.next_u64();
  MemoryTrainFixture f(8);  // 16 slices of 32 x 32
  TrainOptions o = f.to;
  o.epochs = 2;
  o.batch = 3 + static_cast<int>(rng.below(2));  // 3: 5 full batches and 1 of 1; 4: 4 full batches
  o.log_every = 1;
  o.optimizer.lr = rng.uniform(1e-4, 2e-3);
  o.optimizer.weight_decay = rng.below(2) ? rng.uniform(0, 1e-3) : 0.0;
  o.optimizer.decoupled = rng.below(2) == 1;
  o.warmup_epochs = rng.uniform(0, 1.5);
  INFO("batch " << o.batch << ", lr " << o.optimizer.lr << ", weight decay " << o.optimizer.weight_decay);
  const int64_t steps = f.data.train.num_batches(o.batch);
  const bool small_last = f.data.train.size() % o.batch != 0;
  const Run eager = train(gpu.ctx, f, o, init_seed, false);
  const Run graph = train(gpu.ctx, f, o, init_seed, true);
  REQUIRE(eager.losses.size() == static_cast<size_t>(2 * steps));
  require_same_run(eager, graph);
  CHECK_FALSE(eager.enabled);
  CHECK(eager.replays == 0);
#if SRMDS_CUDA_STANDIN
  CHECK_FALSE(graph.enabled);  // the CPU runs the eager step
  CHECK(graph.replays == 0);
#else
  INFO("capture refused: " << graph.note);
  REQUIRE(graph.enabled);
  REQUIRE(graph.note.empty());
  // Per epoch: the first full batch warms up, the second captures, the others replay; a smaller last
  // batch runs eagerly.
  const int64_t full = steps - (small_last ? 1 : 0);
  CHECK(graph.captures == 2);
  CHECK(graph.replays == 2 * (full - 1));
  REQUIRE(graph.step.size() == static_cast<size_t>(2 * steps));
  for (size_t k = 1; k < graph.step.size(); ++k) {
    const int64_t in_epoch = static_cast<int64_t>(k) % steps;  // the step's index in its epoch
    if (in_epoch < 2 || in_epoch >= full) continue;             // warm-up, capture, eager last batch
    INFO("step " << graph.step[k] << " (" << in_epoch << " of its epoch)");
    CHECK(graph.graph_launches[k] - graph.graph_launches[k - 1] == 1);
    CHECK(graph.kernels[k] - graph.kernels[k - 1] == 0);
    CHECK(graph.library_calls[k] - graph.library_calls[k - 1] == 0);
    // The batch, the Adam scalars, the loss into its slot; the report's read: one copy, one wait.
    CHECK(graph.copies[k] - graph.copies[k - 1] == 4 + 1);
    CHECK(graph.host_syncs[k] - graph.host_syncs[k - 1] == 1);
  }
#endif
  (void)small_last;
}

TEST_CASE("the graph option runs the eager step with EMA", "[cuda][net][train_graph]") {
  Gpu gpu;
  MemoryTrainFixture f(4);
  TrainOptions o = f.to;
  o.epochs = 1;
  o.ema_decay = 0.9;
  const Run eager = train(gpu.ctx, f, o, 4, false);
  const Run graph = train(gpu.ctx, f, o, 4, true);
  require_same_run(eager, graph);
  CHECK_FALSE(graph.enabled);
  CHECK(graph.replays == 0);
  CHECK(graph.captures == 0);
}

TEST_CASE("adam_step_all with its scalars in device memory equals the parameter path", "[cuda][adam]") {
  Gpu gpu;
  Context<Dut>& g = gpu.ctx;
  Rng rng(fresh_seed());
  const int n = 1 + static_cast<int>(rng.below(60));  // more than one launch's 48 tensors at times
  std::vector<TD> p1, p2, gr, m1, m2, v1, v2;
  for (int i = 0; i < n; ++i) {
    const Shape s{1 + static_cast<int64_t>(rng.below(3)), 1 + static_cast<int64_t>(rng.below(4)),
                  static_cast<int64_t>(rng.below(9)), 1 + static_cast<int64_t>(rng.below(7))};
    TH hp(s), hg(s), hm(s), hv(s);
    for (int64_t k = 0; k < s.numel(); ++k) {
      hp[k] = static_cast<float>(rng.normal());
      hg[k] = static_cast<float>(rng.normal() * 1e-2);
      hm[k] = static_cast<float>(rng.normal() * 1e-3);
      hv[k] = static_cast<float>(rng.uniform(0, 1e-4));
    }
    p1.push_back(from_host(g, hp));
    p2.push_back(from_host(g, hp));
    gr.push_back(from_host(g, hg));
    m1.push_back(from_host(g, hm));
    m2.push_back(from_host(g, hm));
    v1.push_back(from_host(g, hv));
    v2.push_back(from_host(g, hv));
  }
  std::vector<AdamSlot<float, Dut>> a, b;
  for (int i = 0; i < n; ++i) {
    a.push_back({&p1[i], &gr[i], &m1[i], &v1[i]});
    b.push_back({&p2[i], &gr[i], &m2[i], &v2[i]});
  }
  AdamStep step;
  step.lr = rng.uniform(1e-5, 1e-2);
  step.weight_decay = rng.below(2) ? rng.uniform(0, 1e-2) : 0.0;
  step.decoupled = rng.below(2) == 1;
  const double t = 1 + static_cast<double>(rng.below(1000));
  step.bias_correction1 = 1 - std::pow(step.beta1, t);
  step.bias_correction2 = 1 - std::pow(step.beta2, t);
  THd hs(Shape{kAdamDeviceScalars, 1, 1, 1});
  hs[0] = step.lr;
  hs[1] = step.bias_correction1;
  hs[2] = step.bias_correction2;
  Tensor<double, Dut> scalars(hs.shape(), g);
  copy_to_device(g, hs, scalars);
  AdamStep stale = step;  // what the kernel must not use: the values in memory win
  stale.lr = 1;
  stale.bias_correction1 = stale.bias_correction2 = 0.5;
  adam_step_all(g, a, step);
  adam_step_all(g, b, stale, &scalars);
  for (int i = 0; i < n; ++i) {
    INFO("tensor " << i << " " << p1[i].shape());
    CHECK(same_bits(download(g, p1[i]), download(g, p2[i])));
    CHECK(same_bits(download(g, m1[i]), download(g, m2[i])));
    CHECK(same_bits(download(g, v1[i]), download(g, v2[i])));
  }
  Tensor<double, Dut> wrong(Shape{2, 1, 1, 1}, g);
  CHECK_THROWS_AS(adam_step_all(g, b, step, &wrong), Error);
}
