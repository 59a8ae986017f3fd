// The whole-network parity criterion (tests/support/net_parity.hpp) that the GPU network test uses,
// exercised on the CPU: float32 against float64 on the same weights must pass it (float32 rounding
// and the flipped decisions it causes are what it allows), and errors injected into a result (a
// gradient off by 0.3 %, an output off by 0.1 %, a running variance off by 0.1 %; one tensor's
// gradient garbage in one draw; every gradient 30 % off in one draw) must fail it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>

#include "srmds/nets/srmds_net.hpp"
#include "support/net_parity_run.hpp"

using namespace srmds;
using namespace srmds::test;

namespace {

struct CpuNets {
  SrmdsNet<float, Cpu> net;
  SrmdsNet<double, Cpu> ref;
};

CpuNets make_cpu_nets(Context<Cpu>& cpu, uint64_t seed) {
  NetConfig cfg;
  cfg.base = 8;
  SrmdsNet<float, Cpu> net(cpu, cfg, NetForm::Train, seed);
  SrmdsNet<double, Cpu> ref(cpu, cfg, NetForm::Train, seed);
  copy_state(cpu, net, ref);
  return CpuNets{std::move(net), std::move(ref)};
}

bool mentions(const std::vector<std::string>& problems, const std::string& what) {
  return std::any_of(problems.begin(), problems.end(), [&](const std::string& p) { return p.rfind(what, 0) == 0; });
}

}  // namespace

TEST_CASE("float32 against float64 passes the network parity criterion", "[net][parity]") {
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  CpuNets nets = make_cpu_nets(cpu, rng.next_u64());
  NetParity parity;
  training_step_parity(cpu, nets.net, nets.ref, Shape{2, 1, 32, 48}, rng, parity);
  inference_parity(cpu, nets.net, nets.ref, Shape{2, 1, 32, 48}, rng, parity);
  INFO(parity.report());
  const auto problems = parity.problems();
  for (const std::string& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
}

TEST_CASE("the network parity criterion catches small systematic errors", "[net][parity]") {
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  CpuNets nets = make_cpu_nets(cpu, rng.next_u64());
  const std::string grad = "dec1.b0.br.3x3.conv.weight grad", output = "z2", stat = "enc2.b1.br.3x3.bn.running_var";
  const Tamper tamper = [&](const std::string& name, Tensor<float, Cpu>& t) {
    const float f = name == grad ? 1.003f : (name == output || name == stat) ? 1.001f : 1.0f;
    for (int64_t i = 0; i < t.numel(); ++i) t[i] *= f;
  };
  NetParity parity;
  training_step_parity(cpu, nets.net, nets.ref, Shape{2, 1, 32, 48}, rng, parity, tamper);
  const auto problems = parity.problems();
  for (const std::string& p : problems) UNSCOPED_INFO(p);
  CHECK(mentions(problems, grad + ":"));  // never tight
  CHECK(mentions(problems, output + " (draw 1)"));
  CHECK(mentions(problems, stat + " (draw 1)"));
  // nothing else is blamed: the untouched tensors pass (in at least the tight draws)
  for (const std::string& p : problems) {
    const bool ours = p.rfind(grad, 0) == 0 || p.rfind(output + " ", 0) == 0 || p.rfind(stat + " ", 0) == 0;
    CHECK(ours);
  }
}

TEST_CASE("the network parity criterion catches an error in a single draw", "[net][parity]") {
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  CpuNets nets = make_cpu_nets(cpu, rng.next_u64());
  const std::string grad = "dec1.b0.br.3x3.conv.weight grad";
  std::map<std::string, int> seen;  // how many draws have passed each name
  const Tamper tamper = [&](const std::string& name, Tensor<float, Cpu>& t) {
    const int draw = ++seen[name];
    const bool gradient = name == "dx" || (name.size() > 5 && name.compare(name.size() - 5, 5, " grad") == 0);
    const float f = draw == 2 && name == grad ? 50.0f : draw == 3 && gradient ? 1.3f : 1.0f;
    for (int64_t i = 0; i < t.numel(); ++i) t[i] *= f;
  };
  NetParityLimits lim;
  lim.min_tight_draws = 1;  // this case is about the bounds of each draw, not the count of tight draws
  NetParity parity(lim);
  training_step_parity(cpu, nets.net, nets.ref, Shape{2, 1, 32, 48}, rng, parity, tamper);
  const auto problems = parity.problems();
  for (const std::string& p : problems) UNSCOPED_INFO(p);
  CHECK(mentions(problems, grad + " (draw 2): error"));               // over the bound of one tensor
  CHECK(mentions(problems, "parameter gradients (draw 3): the whole"));  // over the flip bound
  CHECK(mentions(problems, "dx (draw 3): the whole"));
  for (const std::string& p : problems) {
    const bool ours = p.rfind(grad + " (draw 2)", 0) == 0 || p.rfind("parameter gradients (draw 2)", 0) == 0 ||
                      p.find("(draw 3): the whole") != std::string::npos;
    CHECK(ours);
  }
}
