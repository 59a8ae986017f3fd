// Spatial group-wise enhance forward (output and saved mean, norm, stdev) and backward (dx,
// dweight, dbias) against the CPU backend, both write modes, strided channel views, in place.
#include "parity.hpp"
#include "srmds/ops/sge.hpp"

using namespace srmds;
using namespace srmds::test;

TEST_CASE("SGE forward/backward match the CPU backend", "[cuda][sge]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  struct Case {
    Shape x;
    int64_t groups;
  };
  for (Case c : cases({Case{Shape{2, 8, 7, 9}, 8}, Case{Shape{1, 64, 16, 12}, 8}, Case{Shape{4, 6, 11, 13}, 6},
                       Case{Shape{3, 4, 1, 2}, 4}, Case{Shape{8, 128, 32, 32}, 8}}))
    for (bool strided : {false, true})
      for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
        const Shape& s = c.x;
        INFO("shape " << s << " groups " << c.groups << " strided " << strided << " accumulate "
                      << (mode == WriteMode::Accumulate));
        const bool acc = mode == WriteMode::Accumulate;
        const Shape ps{1, c.groups, 1, 1};
        const TH x = random_tensor<float>(s, rng), dy = random_tensor<float>(s, rng),
                 dx0 = random_tensor<float>(s, rng);
        const TH w = random_tensor<float>(ps, rng, -2.0, 2.0), b = random_tensor<float>(ps, rng);
        const TH dw0 = random_tensor<float>(ps, rng), db0 = random_tensor<float>(ps, rng);
        Slot gx(g, s, strided, rng, &x), gdy(g, s, strided, rng, &dy), gy(g, s, strided, rng);
        TD gw = from_host(g, w), gb = from_host(g, b);
        SgeSaved<float, Dut> gsaved = sge_saved_for<float, Dut>(g, s, c.groups);
        sge_forward(g, gx.t, gw, gb, gy.t, gsaved);
        const THd xd = as_double(x), wd = as_double(w), bd = as_double(b);
        THd ry(s);
        SgeSaved<double, Cpu> rsaved = sge_saved_for<double, Cpu>(cpu, s, c.groups);
        sge_forward(cpu, xd, wd, bd, ry, rsaved);
        require_parity(g, gy.t, ry, "sge y");
        gy.require_outside_untouched(g, "sge y");
        require_parity(g, gsaved.mean, rsaved.mean, "sge mean");
        require_parity(g, gsaved.norm, rsaved.norm, "sge norm", 1e-4, 1e-4);
        require_parity(g, gsaved.stdev, rsaved.stdev, "sge stdev");

        // in place on the GPU gives the same output
        TD inplace = from_host(g, x);
        SgeSaved<float, Dut> isaved = sge_saved_for<float, Dut>(g, s, c.groups);
        sge_forward(g, inplace, gw, gb, inplace, isaved);
        require_parity(g, inplace, ry, "sge y in place");

        // backward from the GPU's saved tensors (the CPU gets the same float values)
        SgeSaved<double, Cpu> fsaved{as_double(download(g, gsaved.mean)), as_double(download(g, gsaved.norm)),
                                     as_double(download(g, gsaved.stdev))};
        Slot gdx(g, s, strided, rng, acc ? &dx0 : nullptr);
        TD gdw = acc ? from_host(g, dw0) : TD(ps, g), gdb = acc ? from_host(g, db0) : TD(ps, g);
        sge_backward(g, gx.t, gdy.t, gw, gb, gsaved, gdx.t, mode, gdw, gdb, mode);
        THd rdx = as_double(dx0), rdw = as_double(dw0), rdb = as_double(db0);
        sge_backward(cpu, xd, as_double(dy), wd, bd, fsaved, rdx, mode, rdw, rdb, mode);
        require_parity(g, gdx.t, rdx, "sge dx", 1e-4, 1e-4);
        gdx.require_outside_untouched(g, "sge dx");
        require_parity(g, gdw, rdw, "sge dweight", 1e-4, 1e-4);
        require_parity(g, gdb, rdb, "sge dbias", 1e-4, 1e-4);
      }
}
