// BCE + Dice loss (value and dz), confusion counts and the Adam step against the CPU backend.
#include <cmath>

#include "parity.hpp"
#include "srmds/ops/adam.hpp"
#include "srmds/ops/bce_dice.hpp"
#include "srmds/metrics/confusion_counts.hpp"
#include "srmds/ops/math/adam.hpp"

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
