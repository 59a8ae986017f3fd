// Max pooling (values, argmax, ties), bilinear up-sampling (both corner modes, x2 and other
// ratios) and deep-supervision targets against the CPU backend, with strided channel views.
#include "parity.hpp"
#include "srmds/ops/downsample_target.hpp"
#include "srmds/ops/maxpool.hpp"
#include "srmds/ops/upsample.hpp"

using namespace srmds;
using namespace srmds::test;

TEST_CASE("maxpool2 forward/backward match the CPU backend, ties included", "[cuda][maxpool]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  for (Shape s : cases({Shape{2, 3, 6, 8}, Shape{3, 17, 10, 14}, Shape{8, 32, 64, 64}}))
    for (bool ties : {false, true})
      for (bool strided : {false, true})
        for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
          INFO("shape " << s << " ties " << ties << " strided " << strided << " accumulate "
                        << (mode == WriteMode::Accumulate));
          const Shape os{s.n(), s.c(), s.h() / 2, s.w() / 2};
          TH x = random_tensor<float>(s, rng);
          if (ties)  // few distinct values: many windows have several maxima
            for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.below(3));
          const TH dy = random_tensor<float>(os, rng), dx0 = random_tensor<float>(s, rng);
          Slot gx(g, s, strided, rng, &x), gy(g, os, strided, rng), gdy(g, os, strided, rng, &dy);
          Tensor<int32_t, Dut> garg(os, g);
          maxpool2_forward(g, gx.t, gy.t, garg);
          THd ry(os);
          Tensor<int32_t> rarg(os);
          maxpool2_forward(cpu, as_double(x), ry, rarg);
          require_parity(g, gy.t, ry, "maxpool y", 0, 0);
          gy.require_outside_untouched(g, "maxpool y");
          const Tensor<int32_t> harg = to_host(g, garg);
          int64_t differ = 0;
          for (int64_t i = 0; i < harg.numel(); ++i) differ += harg[i] != rarg[i];
          CHECK(differ == 0);

          Slot gdx(g, s, strided, rng, mode == WriteMode::Accumulate ? &dx0 : nullptr);
          maxpool2_backward(g, gdy.t, garg, gdx.t, mode);
          THd rdx = as_double(dx0);
          maxpool2_backward(cpu, as_double(dy), rarg, rdx, mode);
          require_parity(g, gdx.t, rdx, "maxpool dx", 1e-6, 1e-7);  // float sum when accumulating
          gdx.require_outside_untouched(g, "maxpool dx");
        }
}

TEST_CASE("bilinear upsample forward/backward match the CPU backend", "[cuda][upsample]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  struct Case {
    Shape in, out;
  };
  const std::vector<Case> all = cases<Case>({{Shape{2, 3, 4, 5}, Shape{2, 3, 8, 10}},
                                             {Shape{3, 17, 16, 12}, Shape{3, 17, 32, 24}},
                                             {Shape{1, 2, 5, 7}, Shape{1, 2, 9, 16}},
                                             {Shape{2, 2, 9, 6}, Shape{2, 2, 4, 5}},
                                             {Shape{2, 3, 1, 6}, Shape{2, 3, 3, 12}},
                                             {Shape{1, 4, 7, 3}, Shape{1, 4, 1, 5}},
                                             {Shape{8, 64, 32, 32}, Shape{8, 64, 64, 64}}});
  for (const Case& c : all)
    for (bool align_corners : {true, false})
      for (bool strided : {false, true})
        for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
          INFO(c.in << " -> " << c.out << " align_corners " << align_corners << " strided " << strided
                    << " accumulate " << (mode == WriteMode::Accumulate));
          const TH x = random_tensor<float>(c.in, rng), dy = random_tensor<float>(c.out, rng),
                   dx0 = random_tensor<float>(c.in, rng);
          Slot gx(g, c.in, strided, rng, &x), gy(g, c.out, strided, rng), gdy(g, c.out, strided, rng, &dy);
          upsample_bilinear_forward(g, gx.t, gy.t, align_corners);
          THd ry(c.out);
          upsample_bilinear_forward(cpu, as_double(x), ry, align_corners);
          require_parity(g, gy.t, ry, "upsample y");
          gy.require_outside_untouched(g, "upsample y");

          Slot gdx(g, c.in, strided, rng, mode == WriteMode::Accumulate ? &dx0 : nullptr);
          upsample_bilinear_backward(g, gdy.t, gdx.t, align_corners, mode);
          THd rdx = as_double(dx0);
          upsample_bilinear_backward(cpu, as_double(dy), rdx, align_corners, mode);
          require_parity(g, gdx.t, rdx, "upsample dx");
          gdx.require_outside_untouched(g, "upsample dx");
        }
}

TEST_CASE("downsample_target matches the CPU backend for every mode and factor", "[cuda][targets]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  for (int factor : {1, 2, 4, 8})
    for (TargetMode mode : {TargetMode::Average, TargetMode::Nearest, TargetMode::Max})
      for (bool strided : {false, true}) {
        INFO("factor " << factor << " mode " << static_cast<int>(mode) << " strided " << strided);
        const Shape s{3, 1, 32, 48}, os{3, 1, 32 / factor, 48 / factor};
        TH mask(s);
        for (int64_t i = 0; i < mask.numel(); ++i) mask[i] = rng.uniform() < 0.3 ? 1.0f : 0.0f;
        Slot gm(g, s, strided, rng, &mask), go(g, os, strided, rng);
        downsample_target(g, gm.t, go.t, factor, mode);
        THd ro(os);
        downsample_target(cpu, as_double(mask), ro, factor, mode);
        require_parity(g, go.t, ro, "downsample_target", 1e-6, 1e-7);
        go.require_outside_untouched(g, "downsample_target");
      }
}
