// Polarized self-attention forward (output, both gates and the saved vectors) and backward (dx
// and the twelve parameter gradients) against the CPU backend, both write modes, strided channel
// views, in place.
#include <algorithm>
#include <array>

#include "parity.hpp"
#include "srmds/ops/psa.hpp"
#include "support/psa_zero_grads.hpp"

using namespace srmds;
using namespace srmds::test;

TEST_CASE("PSA forward/backward match the CPU backend", "[cuda][psa]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  for (Shape s :
       cases({Shape{2, 5, 7, 9}, Shape{1, 64, 16, 12}, Shape{4, 2, 5, 3}, Shape{2, 6, 1, 1}, Shape{8, 128, 32, 32}}))
    for (bool strided : {false, true})
      for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
        INFO("shape " << s << " strided " << strided << " accumulate " << (mode == WriteMode::Accumulate));
        const bool acc = mode == WriteMode::Accumulate;
        const auto shapes = psa_param_shapes(s.c()).items();
        std::array<TH, 12> ph, g0;
        std::array<TD, 12> pd, gd;
        std::array<THd, 12> pdd, gdd;
        for (size_t i = 0; i < 12; ++i) {
          ph[i] = random_tensor<float>(shapes[i], rng, -0.6, 0.6);
          if (i == 6)
            for (int64_t k = 0; k < ph[i].numel(); ++k) ph[i][k] += 1.0f;  // LayerNorm weight near 1
          g0[i] = random_tensor<float>(shapes[i], rng);
          pd[i] = from_host(g, ph[i]);
          gd[i] = acc ? from_host(g, g0[i]) : TD(shapes[i], g);
          pdd[i] = as_double(ph[i]);
          gdd[i] = as_double(g0[i]);
        }
        const auto weights = [](const auto& a) {
          using Tn = std::remove_reference_t<decltype(a[0])>;
          return PsaSet<const Tn*>{&a[0], &a[1], &a[2], &a[3], &a[4],  &a[5],
                                   &a[6], &a[7], &a[8], &a[9], &a[10], &a[11]};
        };
        const auto grads = [](auto& a) {
          using Tn = std::remove_reference_t<decltype(a[0])>;
          return PsaSet<Tn*>{&a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6], &a[7], &a[8], &a[9], &a[10], &a[11]};
        };
        const TH x = random_tensor<float>(s, rng), dy = random_tensor<float>(s, rng),
                 dx0 = random_tensor<float>(s, rng);
        Slot gx(g, s, strided, rng, &x), gdy(g, s, strided, rng, &dy), gy(g, s, strided, rng);
        PsaSaved<float, Dut> gsv = psa_saved_for<float, Dut>(g, s);
        psa_forward(g, gx.t, weights(pd), gy.t, gsv);
        const THd xd = as_double(x);
        THd ry(s);
        PsaSaved<double, Cpu> rsv = psa_saved_for<double, Cpu>(cpu, s);
        psa_forward(cpu, xd, weights(pdd), ry, rsv);
        require_parity(g, gy.t, ry, "psa y");
        gy.require_outside_untouched(g, "psa y");
        require_parity(g, gsv.q, rsv.q, "psa q");
        require_parity(g, gsv.scale, rsv.scale, "psa scale");
        require_parity(g, gsv.gate, rsv.gate, "psa gate");
        require_parity(g, gsv.sq, rsv.sq, "psa sq");
        require_parity(g, gsv.u, rsv.u, "psa u");

        TD inplace = from_host(g, x);
        PsaSaved<float, Dut> isv = psa_saved_for<float, Dut>(g, s);
        psa_forward(g, inplace, weights(pd), inplace, isv);
        require_parity(g, inplace, ry, "psa y in place");

        // backward from the GPU's saved tensors (the CPU gets the same float values)
        PsaSaved<double, Cpu> fsv;
        fsv.q = as_double(download(g, gsv.q));
        fsv.yq = as_double(download(g, gsv.yq));
        fsv.z = as_double(download(g, gsv.z));
        fsv.ln_norm = as_double(download(g, gsv.ln_norm));
        fsv.ln_rstd = as_double(download(g, gsv.ln_rstd));
        fsv.scale = as_double(download(g, gsv.scale));
        fsv.mean = as_double(download(g, gsv.mean));
        fsv.sq = as_double(download(g, gsv.sq));
        fsv.u = as_double(download(g, gsv.u));
        fsv.gate = as_double(download(g, gsv.gate));
        Slot gdx(g, s, strided, rng, acc ? &dx0 : nullptr);
        psa_backward(g, gx.t, gdy.t, weights(pd), gsv, gdx.t, mode, grads(gd), mode);
        THd rdx = as_double(dx0);
        psa_backward(cpu, xd, as_double(dy), weights(pdd), fsv, rdx, mode, grads(gdd), mode);
        require_parity(g, gdx.t, rdx, "psa dx", 1e-4, 1e-4);
        gdx.require_outside_untouched(g, "psa dx");
        double op_scale = 0;
        for (const THd& r : gdd) op_scale = std::max(op_scale, max_abs(r));
        for (size_t i = 0; i < 12; ++i)
          require_parity(g, gd[i], gdd[i], std::string("psa d") + kPsaParamNames[i], 1e-4, 1e-4,
                         psa_grad_is_zero(kPsaParamNames[i], s) ? op_scale : 0.0);
      }
}
