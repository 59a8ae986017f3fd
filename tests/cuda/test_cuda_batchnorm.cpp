// BatchNorm (train, eval, backward) against the CPU backend: outputs, saved statistics, running
// statistics, parameter gradients, both write modes, absent gradients and strided channel views.
#include "parity.hpp"
#include "srmds/ops/batchnorm.hpp"

using namespace srmds;
using namespace srmds::test;

TEST_CASE("batchnorm train/eval/backward match the CPU backend", "[cuda][batchnorm]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  const double momentum = 0.1, eps = 1e-5;
  for (Shape s : cases({Shape{2, 5, 7, 9}, Shape{1, 3, 16, 12}, Shape{4, 33, 20, 24}, Shape{8, 16, 64, 64}}))
    for (bool strided : {false, true})
      for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
        INFO("shape " << s << " strided " << strided << " accumulate " << (mode == WriteMode::Accumulate));
        const bool acc = mode == WriteMode::Accumulate;
        const Shape cs{s.c()};
        // an offset mean so the variance computation is tested against cancellation
        const TH x = random_tensor<float>(s, rng, 2.0, 5.0), dy = random_tensor<float>(s, rng);
        const TH gamma = random_tensor<float>(cs, rng, 0.5, 1.5), beta = random_tensor<float>(cs, rng);
        const TH rm0 = random_tensor<float>(cs, rng), rv0 = random_tensor<float>(cs, rng, 0.5, 2.0);
        const TH y0 = random_tensor<float>(s, rng), p0 = random_tensor<float>(cs, rng);
        const THd xd = as_double(x), dyd = as_double(dy), gd = as_double(gamma), bd = as_double(beta);
        Slot gx(g, s, strided, rng, &x), gdy(g, s, strided, rng, &dy);
        TD ggamma = from_host(g, gamma), gbeta = from_host(g, beta);

        // training forward
        TD grm = from_host(g, rm0), grv = from_host(g, rv0), gmean(cs, g), ginvstd(cs, g);
        Slot gy(g, s, strided, rng, acc ? &y0 : nullptr);
        batchnorm_forward_train(g, gx.t, ggamma, gbeta, grm, grv, momentum, eps, gy.t, mode, gmean, ginvstd);
        THd rrm = as_double(rm0), rrv = as_double(rv0), rmean(cs), rinvstd(cs), ry = as_double(y0);
        batchnorm_forward_train(cpu, xd, gd, bd, rrm, rrv, momentum, eps, ry, mode, rmean, rinvstd);
        require_parity(g, gy.t, ry, "bn train y");
        gy.require_outside_untouched(g, "bn train y");
        require_parity(g, gmean, rmean, "bn save_mean");
        require_parity(g, ginvstd, rinvstd, "bn save_invstd");
        require_parity(g, grm, rrm, "bn running_mean");
        require_parity(g, grv, rrv, "bn running_var");

        // eval forward with the updated running statistics
        Slot ge(g, s, strided, rng, acc ? &y0 : nullptr);
        batchnorm_forward_eval(g, gx.t, ggamma, gbeta, grm, grv, eps, ge.t, mode);
        THd re = as_double(y0);
        batchnorm_forward_eval(cpu, xd, gd, bd, as_double(download(g, grm)), as_double(download(g, grv)), eps, re, mode);
        require_parity(g, ge.t, re, "bn eval y");
        ge.require_outside_untouched(g, "bn eval y");

        // backward from the GPU's saved statistics (the CPU gets the same float values)
        const THd smean = as_double(download(g, gmean)), sinvstd = as_double(download(g, ginvstd));
        Slot gdx(g, s, strided, rng, acc ? &y0 : nullptr);
        TD gdg = acc ? from_host(g, p0) : TD(cs, g), gdb = acc ? from_host(g, p0) : TD(cs, g);
        batchnorm_backward(g, gx.t, gdy.t, ggamma, gmean, ginvstd, &gdx.t, mode, &gdg, &gdb, mode);
        THd rdx = as_double(y0), rdg = as_double(p0), rdb = as_double(p0);
        batchnorm_backward(cpu, xd, dyd, gd, smean, sinvstd, &rdx, mode, &rdg, &rdb, mode);
        require_parity(g, gdx.t, rdx, "bn dx");
        gdx.require_outside_untouched(g, "bn dx");
        require_parity(g, gdg, rdg, "bn dgamma");
        require_parity(g, gdb, rdb, "bn dbeta");

        // only some gradients wanted
        Slot gdx2(g, s, strided, rng);
        batchnorm_backward(g, gx.t, gdy.t, ggamma, gmean, ginvstd, &gdx2.t, WriteMode::Overwrite, nullptr, nullptr,
                           WriteMode::Overwrite);
        THd rdx2(s);
        batchnorm_backward(cpu, xd, dyd, gd, smean, sinvstd, &rdx2, WriteMode::Overwrite, nullptr, nullptr,
                           WriteMode::Overwrite);
        require_parity(g, gdx2.t, rdx2, "bn dx only");
        TD gdg2(cs, g);
        batchnorm_backward(g, gx.t, gdy.t, ggamma, gmean, ginvstd, nullptr, WriteMode::Overwrite, &gdg2, nullptr,
                           WriteMode::Overwrite);
        THd rdg2(cs);
        batchnorm_backward(cpu, xd, dyd, gd, smean, sinvstd, nullptr, WriteMode::Overwrite, &rdg2, nullptr,
                           WriteMode::Overwrite);
        require_parity(g, gdg2, rdg2, "bn dgamma only");
      }
}
