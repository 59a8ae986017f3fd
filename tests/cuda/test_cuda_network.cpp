// Whole SR&MDS-Net on the GPU (float32, TF32 off, deterministic cuDNN algorithms) against the CPU
// backend in float64 on the same weights and inputs: the training step (z_0..z_3, running
// statistics, dx and every parameter gradient) over several draws, and inference of the training
// form in eval mode and of the fused form. The criterion (tests/support/net_parity.hpp) is tight on
// every forward tensor and on the gradients in most draws, and allows the flipped ReLU / max-pool
// decisions that float32 rounding causes in a few draws (see there for the measured rates).
#include <map>
#include <string>

#include "parity.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "support/net_parity_run.hpp"

using namespace srmds;
using namespace srmds::test;

namespace {

// The GPU net, the CPU float32 net built from the same seed (initialisation must be identical, bit
// for bit) and the CPU float64 reference holding the same values.
struct Nets {
  SrmdsNet<float, Dut> gpu;
  SrmdsNet<double, Cpu> ref;
};

Nets make_nets(Context<Dut>& g, uint64_t seed) {
  Context<Cpu> cpu;
  NetConfig cfg;
  cfg.base = 8;
  SrmdsNet<float, Cpu> cnet(cpu, cfg, NetForm::Train, seed);
  SrmdsNet<float, Dut> gnet(g, cfg, NetForm::Train, seed);
  std::map<std::string, NamedTensor<float, Dut>> gstate;
  for (auto& e : gnet.state()) gstate[e.name] = e;
  const auto cstate = cnet.state();
  REQUIRE(cstate.size() == gstate.size());
  for (const auto& e : cstate) {  // identical initialisation
    REQUIRE(gstate.count(e.name));
    const TH gv = download(g, *gstate[e.name].value);
    for (int64_t i = 0; i < gv.numel(); ++i) REQUIRE(gv[i] == (*e.value)[i]);
  }
  SrmdsNet<double, Cpu> ref(cpu, cfg, NetForm::Train, seed);
  copy_state(g, gnet, ref);
  return Nets{std::move(gnet), std::move(ref)};
}

void require_parity_holds(const NetParity& parity) {
  INFO(parity.report());
  const auto problems = parity.problems();
  for (const std::string& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
}

}  // namespace

TEST_CASE("network training step matches the CPU backend (float64 reference)", "[cuda][net][train]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Rng rng(fresh_seed());
  Nets nets = make_nets(g, rng.next_u64());
  NetParity parity;
  training_step_parity(g, nets.gpu, nets.ref, Shape{2, 1, 32, 48}, rng, parity);
  WARN(parity.report());
  require_parity_holds(parity);
}

TEST_CASE("network inference (training form in eval mode, fused form) matches the CPU backend", "[cuda][net][infer]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Rng rng(fresh_seed());
  Nets nets = make_nets(g, rng.next_u64());
  // one training step first, so that the running statistics are not the initial 0 / 1
  NetParityLimits one;
  one.draws = 1;
  one.min_tight_draws = 0;
  NetParity step(one);
  training_step_parity(g, nets.gpu, nets.ref, Shape{2, 1, 32, 48}, rng, step);
  require_parity_holds(step);
  NetParity parity;
  inference_parity(g, nets.gpu, nets.ref, Shape{2, 1, 32, 48}, rng, parity);
  WARN(parity.report());
  require_parity_holds(parity);
}
