// Whole SR&MDS-Net on the GPU against the CPU backend (both float32, same seed, same input): the
// training step (z_0..z_3, running statistics, every parameter gradient) and inference of the
// training form in eval mode and of the fused form. TF32 off. Through a dozen layers of BN the
// float32 rounding of the two backends drifts apart more than one op's, hence rtol 1e-3 (on
// values scale-relative to each tensor's largest).
#include <map>
#include <string>

#include "parity.hpp"
#include "srmds/nets/srmds_net.hpp"

using namespace srmds;
using namespace srmds::test;

namespace {

template <class D>
std::map<std::string, NamedTensor<float, D>> by_name(StateList<float, D> st) {
  std::map<std::string, NamedTensor<float, D>> m;
  for (auto& e : st) m[e.name] = e;
  return m;
}

constexpr double kNetRtol = 1e-3;
constexpr double kNetAtolScale = 1e-4;

// As require_parity, but a reference that is all zeros (e.g. the SE fc1 gradient of a block whose
// hidden units are all inactive) must be matched by exact zeros.
void require_net_parity(Context<Cuda>& g, const TD& gpu, const TH& ref, const std::string& what) {
  const THd r = as_double(ref);
  if (max_abs(r) == 0) {
    const TH h = download(g, gpu);
    int64_t nonzero = 0;
    for (int64_t i = 0; i < h.numel(); ++i) nonzero += h[i] != 0.0f;
    INFO(what << ": reference is zero, GPU has " << nonzero << " non-zero values");
    CHECK(nonzero == 0);
    return;
  }
  require_parity(g, gpu, r, what, kNetRtol, kNetAtolScale);
}

}  // namespace

TEST_CASE("network training step and inference match the CPU backend", "[cuda][net]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  NetConfig cfg;
  cfg.base = 8;
  const uint64_t seed = rng.next_u64();
  SrmdsNet<float, Cpu> cnet(cpu, cfg, NetForm::Train, seed);
  SrmdsNet<float, Cuda> gnet(g, cfg, NetForm::Train, seed);

  auto cstate = by_name(cnet.state());
  auto gstate = by_name(gnet.state());
  REQUIRE(cstate.size() == gstate.size());
  for (auto& [name, e] : cstate) {  // identical initialisation
    REQUIRE(gstate.count(name));
    const TH gv = download(g, *gstate[name].value);
    for (int64_t i = 0; i < gv.numel(); ++i) REQUIRE(gv[i] == (*e.value)[i]);
  }

  const Shape xs{2, 1, 32, 48};
  const TH x = random_tensor<float>(xs, rng);
  const TD gx = from_host(g, x);
  const auto& zc = cnet.forward_train(cpu, x);
  const auto& zg = gnet.forward_train(g, gx);
  for (int s = 0; s < 4; ++s)
    require_net_parity(g, zg[s], zc[s], "z" + std::to_string(s));

  std::array<TH, 4> dzc;
  std::array<TD, 4> dzg;
  for (int s = 0; s < 4; ++s) {
    dzc[s] = random_tensor<float>(zc[s].shape(), rng);
    dzg[s] = from_host(g, dzc[s]);
  }
  TH dxc(xs);
  TD dxg(xs, g);
  cnet.backward(cpu, dzc, WriteMode::Overwrite, &dxc);
  gnet.backward(g, dzg, WriteMode::Overwrite, &dxg);
  require_net_parity(g, dxg, dxc, "dx");
  for (auto& [name, e] : cstate) {
    INFO(name);
    // running statistics after the step, and every parameter's gradient
    require_net_parity(g, *gstate[name].value, *e.value, name);
    if (e.grad) require_net_parity(g, *gstate[name].grad, *e.grad, name + " grad");
  }

  // inference: training form in eval mode, and the fused form
  TH z0c(Shape{2, 1, 32, 48});
  TD z0g(z0c.shape(), g);
  cnet.forward_eval(cpu, x, z0c);
  gnet.forward_eval(g, gx, z0g);
  require_net_parity(g, z0g, z0c, "eval z0");
  SrmdsNet<float, Cpu> cfused = cnet.fused(cpu);
  SrmdsNet<float, Cuda> gfused = gnet.fused(g);
  cfused.forward_eval(cpu, x, z0c);
  gfused.forward_eval(g, gx, z0g);
  require_net_parity(g, z0g, z0c, "fused z0");
}
