// Runs the whole-network parity criterion (net_parity.hpp) for a float32 network on device D against
// the CPU float64 network with the same weights: the training step over the criterion's draws, and
// eval-mode inference of the training form and of the fused form.
#pragma once

#include <array>
#include <functional>
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "support/net_parity.hpp"
#include "support/testing.hpp"

namespace srmds::test {

// Lets a test change a result before it is compared (tests/test_net_parity.cpp injects errors).
using Tamper = std::function<void(const std::string& name, Tensor<float, Cpu>& result)>;

// Copies every state tensor of `from` (float, device D) into `to` (double, CPU), by name.
template <class D>
void copy_state(Context<D>& ctx, SrmdsNet<float, D>& from, SrmdsNet<double, Cpu>& to) {
  std::map<std::string, Tensor<double, Cpu>*> dst;
  for (auto& e : to.state()) dst[e.name] = e.value;
  for (auto& e : from.state()) {
    REQUIRE(dst.count(e.name));
    const Tensor<float, Cpu> h = to_host(ctx, *e.value);
    Tensor<double, Cpu>& d = *dst[e.name];
    REQUIRE(d.shape() == h.shape());
    for (int64_t i = 0; i < h.numel(); ++i) d[i] = static_cast<double>(h[i]);
  }
}

// For a running mean, sqrt of the same BatchNorm's running variance in the reference (the scale its
// error is held to besides itself, net_parity.hpp); otherwise nothing.
inline std::optional<Tensor<double, Cpu>> spread_of(const std::map<std::string, NamedTensor<double, Cpu>>& ref,
                                                    const std::string& name) {
  const std::string mean = "running_mean";
  if (name.size() < mean.size() || name.compare(name.size() - mean.size(), mean.size(), mean) != 0) return {};
  const auto var = ref.find(name.substr(0, name.size() - mean.size()) + "running_var");
  REQUIRE(var != ref.end());
  const Tensor<double, Cpu>& v = *var->second.value;
  Tensor<double, Cpu> spread(v.shape());
  for (int64_t i = 0; i < spread.numel(); ++i) spread[i] = std::sqrt(std::max(0.0, v[i]));
  return spread;
}

template <class D>
Tensor<float, Cpu> result_of(Context<D>& ctx, const std::string& name, const Tensor<float, D>& t, const Tamper& tamper) {
  Tensor<float, Cpu> h = to_host(ctx, t);
  if (tamper) tamper(name, h);
  return h;
}

// The training step: parity.limits().draws draws of (forward_train, backward) on fresh inputs and
// output gradients; after each, the outputs z_0..z_3 and the running statistics (forward), dx and
// every parameter gradient (gradients) are checked.
template <class D>
void training_step_parity(Context<D>& ctx, SrmdsNet<float, D>& net, SrmdsNet<double, Cpu>& ref, const Shape& xs,
                          Rng& rng, NetParity& parity, const Tamper& tamper = {}) {
  Context<Cpu> cpu;
  for (int draw = 0; draw < parity.limits().draws; ++draw) {
    parity.begin_draw();
    const Tensor<float, Cpu> x = random_tensor<float>(xs, rng);
    Tensor<double, Cpu> xr(xs);
    for (int64_t i = 0; i < x.numel(); ++i) xr[i] = static_cast<double>(x[i]);
    const Tensor<float, D> xg = from_host(ctx, x);
    const auto& z = net.forward_train(ctx, xg);
    const auto& zr = ref.forward_train(cpu, xr);
    for (int s = 0; s < kNumScales; ++s) {
      const std::string name = "z" + std::to_string(s);
      parity.forward(name, result_of(ctx, name, z[s], tamper), zr[s]);
    }
    std::array<Tensor<float, D>, kNumScales> dz;
    std::array<Tensor<double, Cpu>, kNumScales> dzr;
    for (int s = 0; s < kNumScales; ++s) {
      const Tensor<float, Cpu> h = random_tensor<float>(zr[s].shape(), rng);
      dz[s] = from_host(ctx, h);
      dzr[s] = Tensor<double, Cpu>(h.shape());
      for (int64_t i = 0; i < h.numel(); ++i) dzr[s][i] = static_cast<double>(h[i]);
    }
    Tensor<float, D> dx(xs, ctx);
    Tensor<double, Cpu> dxr(xs);
    net.backward(ctx, dz, WriteMode::Overwrite, &dx);
    ref.backward(cpu, dzr, WriteMode::Overwrite, &dxr);

    std::map<std::string, NamedTensor<double, Cpu>> by_name;
    for (auto& e : ref.state()) by_name[e.name] = e;
    std::vector<std::string> names{"dx"};
    std::vector<Tensor<float, Cpu>> got;
    got.push_back(result_of(ctx, "dx", dx, tamper));
    std::vector<const Tensor<double, Cpu>*> want{&dxr};
    for (auto& e : net.state()) {
      REQUIRE(by_name.count(e.name));
      const NamedTensor<double, Cpu>& r = by_name[e.name];
      if (e.grad) {
        names.push_back(e.name + " grad");
        got.push_back(result_of(ctx, names.back(), *e.grad, tamper));
        want.push_back(r.grad);
      } else {  // a buffer: BatchNorm's running statistics after this step
        const auto spread = spread_of(by_name, e.name);
        parity.forward(e.name, result_of(ctx, e.name, *e.value, tamper), *r.value, spread ? &*spread : nullptr);
      }
    }
    // dx is its own group (its scale is not the parameters'); the parameter gradients form one.
    parity.gradients<float>({names[0]}, {&got[0]}, {want[0]});
    std::vector<const Tensor<float, Cpu>*> got_params;
    for (size_t i = 1; i < got.size(); ++i) got_params.push_back(&got[i]);
    parity.gradients<float>(std::vector<std::string>(names.begin() + 1, names.end()), got_params,
                            std::vector<const Tensor<double, Cpu>*>(want.begin() + 1, want.end()));
  }
}

// Eval-mode inference of the training form and of its fused form (forward: tight).
template <class D>
void inference_parity(Context<D>& ctx, SrmdsNet<float, D>& net, SrmdsNet<double, Cpu>& ref, const Shape& xs, Rng& rng,
                      NetParity& parity, const Tamper& tamper = {}) {
  Context<Cpu> cpu;
  parity.begin_draw();
  const Tensor<float, Cpu> x = random_tensor<float>(xs, rng);
  Tensor<double, Cpu> xr(xs);
  for (int64_t i = 0; i < x.numel(); ++i) xr[i] = static_cast<double>(x[i]);
  const Tensor<float, D> xg = from_host(ctx, x);
  Tensor<float, D> z(Shape{xs.n(), 1, xs.h(), xs.w()}, ctx);
  Tensor<double, Cpu> zr(z.shape());
  net.forward_eval(ctx, xg, z);
  ref.forward_eval(cpu, xr, zr);
  parity.forward("eval z0", result_of(ctx, "eval z0", z, tamper), zr);
  SrmdsNet<float, D> fused = net.fused(ctx);
  SrmdsNet<double, Cpu> fused_ref = ref.fused(cpu);
  fused.forward_eval(ctx, xg, z);
  fused_ref.forward_eval(cpu, xr, zr);
  parity.forward("fused z0", result_of(ctx, "fused z0", z, tamper), zr);
}

}  // namespace srmds::test
