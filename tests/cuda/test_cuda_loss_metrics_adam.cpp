// BCE + Dice loss (value and dz), confusion counts and the Adam step against the CPU backend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "parity.hpp"
#include "srmds/losses/deep_supervision.hpp"
#include "srmds/ops/adam.hpp"
#include "srmds/ops/bce_dice.hpp"
#include "srmds/metrics/confusion_counts.hpp"
#include "srmds/ops/math/adam.hpp"
#if !SRMDS_CUDA_STANDIN
#include "srmds/cuda/counters.hpp"
#endif

using namespace srmds;
using namespace srmds::test;

TEST_CASE("bce_dice_loss value and gradient match the CPU backend", "[cuda][loss]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  for (Shape s : cases({Shape{1, 1, 8, 8}, Shape{3, 1, 17, 23}, Shape{8, 1, 128, 128}}))
    for (bool soft : {false, true})
      for (bool strided : {false, true})
        for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
          INFO("shape " << s << " soft targets " << soft << " strided " << strided << " accumulate "
                        << (mode == WriteMode::Accumulate));
          const TH z = random_tensor<float>(s, rng, -6, 6), dz0 = random_tensor<float>(s, rng, -1e-3, 1e-3);
          TH y(s);
          for (int64_t i = 0; i < y.numel(); ++i)
            y[i] = soft ? static_cast<float>(rng.uniform()) : (rng.uniform() < 0.2 ? 1.0f : 0.0f);
          Slot gz(g, s, strided, rng, &z), gy(g, s, strided, rng, &y);
          Slot gdz(g, s, strided, rng, mode == WriteMode::Accumulate ? &dz0 : nullptr);
          const double weight = 8.0 / 15.0;
          const double lg = bce_dice_loss(g, gz.t, gy.t, weight, &gdz.t, mode);
          THd rdz = as_double(dz0);
          const double lc = bce_dice_loss(cpu, as_double(z), as_double(y), weight, &rdz, mode);
          CHECK(lg == Approx(lc).epsilon(1e-6));
          require_parity(g, gdz.t, rdz, "loss dz");
          gdz.require_outside_untouched(g, "loss dz");
          // value only
          CHECK(bce_dice_loss(g, gz.t, gy.t, weight, static_cast<TD*>(nullptr), mode) == Approx(lc).epsilon(1e-6));
          // Dice weights 0 (BCE alone) and 1 (BCE + Dice), value and gradient
          for (double lambda : {0.0, 1.0}) {
            INFO("dice weight " << lambda);
            Slot gdz2(g, s, strided, rng, mode == WriteMode::Accumulate ? &dz0 : nullptr);
            const double lg2 = bce_dice_loss(g, gz.t, gy.t, weight, &gdz2.t, mode, lambda);
            THd rdz2 = as_double(dz0);
            const double lc2 = bce_dice_loss(cpu, as_double(z), as_double(y), weight, &rdz2, mode, lambda);
            CHECK(lg2 == Approx(lc2).epsilon(1e-6));
            require_parity(g, gdz2.t, rdz2, "loss dz (dice weight)");
          }
        }
}

TEST_CASE("the deep-supervision loss left in a device slot matches the CPU backend", "[cuda][loss]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  for (Shape full : cases({Shape{2, 1, 16, 24}, Shape{8, 1, 256, 256}}))
    for (DsMode ds : {DsMode::Native, DsMode::Upsample, DsMode::Off}) {
      DeepSupervisionOptions o;
      o.ds = ds;
      o.dice_weight = rng.uniform(0, 1);
      INFO("mask " << full << " ds " << static_cast<int>(ds) << " dice weight " << o.dice_weight);
      NetConfig cfg;
      cfg.align_corners = rng.uniform() < 0.5;
      TH mask(full);
      for (int64_t i = 0; i < mask.numel(); ++i) mask[i] = rng.uniform() < 0.3 ? 1.0f : 0.0f;
      std::array<TH, 4> z;
      std::array<TD, 4> gz;
      std::array<THd, 4> zd;
      for (int s = 0; s < 4; ++s) {
        z[s] = random_tensor<float>(Shape{full.n(), 1, full.h() >> s, full.w() >> s}, rng, -5, 5);
        gz[s] = from_host(g, z[s]);
        zd[s] = as_double(z[s]);
      }
      DeepSupervisionLoss<double, Cpu> ref_loss(cfg, o);
      std::array<THd, 4> rdz;
      const double ref = ref_loss.forward_backward(cpu, zd, as_double(mask), rdz);

      // Three slots of sentinels; the loss goes into the middle one and nowhere else.
      THd sentinels(Shape{3, 1, 1, 1});
      for (int64_t i = 0; i < 3; ++i) sentinels[i] = rng.uniform(-1e3, 1e3);
      Tensor<double, Dut> buf = from_host(g, sentinels);
      Tensor<double, Dut> slot = buf.samples(1, 1);
      DeepSupervisionLoss<float, Dut> loss(cfg, o);
      std::array<TD, 4> gdz;
      const TD gmask = from_host(g, mask);
#if !SRMDS_CUDA_STANDIN
      cuda::reset_work_counts();
#endif
      loss.forward_backward_to(g, gz, gmask, gdz, slot);
#if !SRMDS_CUDA_STANDIN
      {  // three launches per scale (sums, finalize, gradient), plus each scale's target or upsampling
        const cuda::WorkCounts n = cuda::work_counts();
        const int64_t extra = ds == DsMode::Native ? 3 : ds == DsMode::Upsample ? 6 : 0;
        CHECK(n.host_syncs == 0);
        CHECK(n.copies == 0);
        CHECK(n.kernels == (ds == DsMode::Off ? 3 : 12 + extra));
      }
#endif
      const THd got = to_host(g, buf);
      CHECK(got[0] == sentinels[0]);
      CHECK(got[2] == sentinels[2]);
      CHECK(got[1] == Approx(ref).epsilon(1e-6));
      for (int s = 0; s < 4; ++s) {
        INFO("scale " << s);
        REQUIRE(gdz[s].empty() == !ref_loss.uses_scale(s));
        if (!gdz[s].empty()) require_parity(g, gdz[s], rdz[s], "ds dz");
      }
      // The double-returning call: the same value, read once.
#if !SRMDS_CUDA_STANDIN
      cuda::reset_work_counts();
#endif
      const double value = loss.forward(g, gz, gmask);
#if !SRMDS_CUDA_STANDIN
      CHECK(cuda::work_counts().host_syncs == 1);
      CHECK(cuda::work_counts().copies == 1);
#endif
      CHECK(value == Approx(ref).epsilon(1e-6));
      for (int s = 0; s < 4; ++s) CHECK(loss.scale_losses()[s] == Approx(ref_loss.scale_losses()[s]).epsilon(1e-6));
    }
}

TEST_CASE("confusion counts match the CPU backend exactly", "[cuda][metrics]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  for (Shape s : cases({Shape{1, 1, 5, 7}, Shape{4, 1, 64, 48}, Shape{2, 1, 512, 512}}))
    for (bool strided : {false, true}) {
      INFO("shape " << s << " strided " << strided);
      TH z = random_tensor<float>(s, rng, -1, 1), m(s);
      for (int64_t i = 0; i < m.numel(); ++i) m[i] = static_cast<float>(rng.uniform());
      z[0] = 0.0f;  // the boundaries: z == 0 predicts lesion, mask == 0.5 is lesion
      m[0] = 0.5f;
      Slot gz(g, s, strided, rng, &z), gm(g, s, strided, rng, &m);
      Tensor<int64_t, Dut> gc(Shape{s.n(), 4}, g);
      confusion_counts(g, gz.t, gm.t, gc);
      Tensor<int64_t> rc(Shape{s.n(), 4});
      confusion_counts(cpu, z, m, rc);
      const Tensor<int64_t> hc = to_host(g, gc);
      for (int64_t i = 0; i < rc.numel(); ++i) REQUIRE(hc[i] == rc[i]);
      for (int64_t n = 0; n < s.n(); ++n)
        CHECK(hc[4 * n] + hc[4 * n + 1] + hc[4 * n + 2] + hc[4 * n + 3] == s.h() * s.w());
    }
}

TEST_CASE("adam_step matches adam_update on the host", "[cuda][adam]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Rng rng(fresh_seed());
  for (bool decoupled : {false, true})
    for (float wd : {0.0f, 0.01f}) {
      INFO("decoupled " << decoupled << " weight decay " << wd);
      const Shape s{37, 19, 3, 3};
      TH p = random_tensor<float>(s, rng), gr = random_tensor<float>(s, rng), m = random_tensor<float>(s, rng, -0.1, 0.1),
         v = random_tensor<float>(s, rng, 0.0, 0.01);
      TD gp = from_host(g, p), gg = from_host(g, gr), gm = from_host(g, m), gv = from_host(g, v);
      AdamStep step;
      step.lr = 1e-3f;
      step.weight_decay = wd;
      step.decoupled = decoupled;
      THd rp = as_double(p), rm = as_double(m), rv = as_double(v);
      for (int t = 1; t <= 3; ++t) {
        step.bias_correction1 = 1.0f - std::pow(step.beta1, static_cast<float>(t));
        step.bias_correction2 = 1.0f - std::pow(step.beta2, static_cast<float>(t));
        adam_step(g, gp, gg, gm, gv, step);
        for (int64_t i = 0; i < rp.numel(); ++i) adam_update(rp[i], static_cast<double>(gr[i]), rm[i], rv[i], step);
      }
      require_parity(g, gp, rp, "adam param", 1e-5, 1e-6);
      require_parity(g, gm, rm, "adam m", 1e-5, 1e-6);
      require_parity(g, gv, rv, "adam v", 1e-4, 1e-6);
    }
}

TEST_CASE("adam_step_all over many tensors matches adam_update on the host", "[cuda][adam]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Rng rng(fresh_seed());
  // More tensors than one launch takes (kAdamTensorsPerLaunch = 48), empty ones among them.
  const int count = cases({50, 110}).back();
  std::vector<TD> gp, gg, gm, gv;
  std::vector<THd> rp, rm, rv;
  std::vector<THd> grads;
  for (int t = 0; t < count; ++t) {
    const int64_t n = t % 17 == 3 ? 0 : 1 + static_cast<int64_t>(rng.uniform(0, t % 5 == 0 ? 5000 : 40));
    const Shape s{n};
    const TH p = random_tensor<float>(s, rng), gr = random_tensor<float>(s, rng),
             m = random_tensor<float>(s, rng, -0.1, 0.1), v = random_tensor<float>(s, rng, 0.0, 0.01);
    gp.push_back(from_host(g, p));
    gg.push_back(from_host(g, gr));
    gm.push_back(from_host(g, m));
    gv.push_back(from_host(g, v));
    rp.push_back(as_double(p));
    rm.push_back(as_double(m));
    rv.push_back(as_double(v));
    grads.push_back(as_double(gr));
  }
  std::vector<AdamSlot<float, Dut>> slots;
  for (int t = 0; t < count; ++t) slots.push_back({&gp[t], &gg[t], &gm[t], &gv[t]});
  AdamStep step;
  step.lr = 1e-3f;
  step.weight_decay = 0.01f;
  step.decoupled = true;
  for (int t = 1; t <= 2; ++t) {
    step.bias_correction1 = 1.0f - std::pow(step.beta1, static_cast<float>(t));
    step.bias_correction2 = 1.0f - std::pow(step.beta2, static_cast<float>(t));
    adam_step_all(g, slots, step);
    for (int k = 0; k < count; ++k)
      for (int64_t i = 0; i < rp[k].numel(); ++i)
        adam_update(rp[k][i], grads[k][i], rm[k][i], rv[k][i], step);
  }
  // Each tensor against its reference, on the scale of the whole list (a one-element moment can
  // cancel to almost nothing: its rounding is then that of its terms, not of its value).
  double sp = 0, sm = 0, sv = 0;
  for (int k = 0; k < count; ++k) {
    sp = std::max(sp, max_abs(rp[k]));
    sm = std::max(sm, max_abs(rm[k]));
    sv = std::max(sv, max_abs(rv[k]));
  }
  for (int k = 0; k < count; ++k) {
    INFO("tensor " << k << " of " << count);
    if (rp[k].numel() == 0) continue;
    require_parity(g, gp[k], rp[k], "adam_step_all param", 1e-5, 1e-6, sp);
    require_parity(g, gm[k], rm[k], "adam_step_all m", 1e-5, 1e-6, sm);
    require_parity(g, gv[k], rv[k], "adam_step_all v", 1e-4, 1e-6, sv);
  }
}
