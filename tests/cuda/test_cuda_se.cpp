// Squeeze-and-excitation forward (output and saved mean, hidden, scale) and backward (dx and the
// four parameter gradients) against the CPU backend, both write modes, strided channel views; the
// fused SE + ReLU forward (se_relu_forward) against cpu::se_relu_forward, in place and not.
#include "parity.hpp"
#include "srmds/cpu/se_relu.hpp"
#include "srmds/ops/se.hpp"

using namespace srmds;
using namespace srmds::test;

TEST_CASE("SE forward/backward match the CPU backend", "[cuda][se]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  struct Case {
    Shape x;
    int64_t hd;
  };
  for (Case c : cases({Case{Shape{2, 5, 7, 9}, 4}, Case{Shape{1, 64, 16, 12}, 4}, Case{Shape{4, 33, 11, 13}, 8},
                       Case{Shape{8, 128, 32, 32}, 8}}))
    for (bool strided : {false, true})
      for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
        const Shape& s = c.x;
        INFO("shape " << s << " hidden " << c.hd << " strided " << strided << " accumulate "
                      << (mode == WriteMode::Accumulate));
        const bool acc = mode == WriteMode::Accumulate;
        const int64_t C = s.c(), hd = c.hd;
        const TH x = random_tensor<float>(s, rng), dy = random_tensor<float>(s, rng), dx0 = random_tensor<float>(s, rng);
        const TH w1 = random_tensor<float>(Shape{hd, C, 1, 1}, rng), b1 = random_tensor<float>(Shape{hd}, rng, 0.0, 0.5);
        const TH w2 = random_tensor<float>(Shape{C, hd, 1, 1}, rng), b2 = random_tensor<float>(Shape{C}, rng);
        const TH dw1_0 = random_tensor<float>(w1.shape(), rng), db1_0 = random_tensor<float>(b1.shape(), rng);
        const TH dw2_0 = random_tensor<float>(w2.shape(), rng), db2_0 = random_tensor<float>(b2.shape(), rng);
        Slot gx(g, s, strided, rng, &x), gdy(g, s, strided, rng, &dy), gy(g, s, strided, rng);
        TD gw1 = from_host(g, w1), gb1 = from_host(g, b1), gw2 = from_host(g, w2), gb2 = from_host(g, b2);
        SeSaved<float, Dut> gsaved = se_saved_for<float, Dut>(g, s, hd);
        se_forward(g, gx.t, gw1, gb1, gw2, gb2, gy.t, gsaved);
        const THd xd = as_double(x), w1d = as_double(w1), b1d = as_double(b1), w2d = as_double(w2),
                  b2d = as_double(b2);
        THd ry(s);
        SeSaved<double, Cpu> rsaved = se_saved_for<double, Cpu>(cpu, s, hd);
        se_forward(cpu, xd, w1d, b1d, w2d, b2d, ry, rsaved);
        require_parity(g, gy.t, ry, "se y");
        gy.require_outside_untouched(g, "se y");
        require_parity(g, gsaved.mean, rsaved.mean, "se mean");
        require_parity(g, gsaved.hidden, rsaved.hidden, "se hidden");
        require_parity(g, gsaved.scale, rsaved.scale, "se scale");

        // backward from the GPU's saved tensors (the CPU gets the same float values)
        SeSaved<double, Cpu> fsaved{as_double(download(g, gsaved.mean)), as_double(download(g, gsaved.hidden)),
                                    as_double(download(g, gsaved.scale))};
        Slot gdx(g, s, strided, rng, acc ? &dx0 : nullptr);
        TD gdw1 = acc ? from_host(g, dw1_0) : TD(w1.shape(), g), gdb1 = acc ? from_host(g, db1_0) : TD(b1.shape(), g);
        TD gdw2 = acc ? from_host(g, dw2_0) : TD(w2.shape(), g), gdb2 = acc ? from_host(g, db2_0) : TD(b2.shape(), g);
        se_backward(g, gx.t, gdy.t, gw1, gb1, gw2, gb2, gsaved, gdx.t, mode, gdw1, gdb1, gdw2, gdb2, mode);
        THd rdx = as_double(dx0), rdw1 = as_double(dw1_0), rdb1 = as_double(db1_0), rdw2 = as_double(dw2_0),
            rdb2 = as_double(db2_0);
        se_backward(cpu, xd, as_double(dy), w1d, b1d, w2d, b2d, fsaved, rdx, mode, rdw1, rdb1, rdw2, rdb2, mode);
        require_parity(g, gdx.t, rdx, "se dx");
        gdx.require_outside_untouched(g, "se dx");
        require_parity(g, gdw1, rdw1, "se dw1");
        require_parity(g, gdb1, rdb1, "se db1");
        require_parity(g, gdw2, rdw2, "se dw2");
        require_parity(g, gdb2, rdb2, "se db2");
      }
}

TEST_CASE("SE + ReLU in one pass matches the CPU backend, in place too", "[cuda][se][se_relu]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  struct Case {
    Shape x;
    int64_t hd;
  };
  for (Case c : cases({Case{Shape{2, 5, 7, 9}, 4}, Case{Shape{4, 33, 11, 13}, 8}, Case{Shape{8, 128, 32, 32}, 8}}))
    for (bool strided : {false, true})
      for (bool in_place : {false, true}) {
        const Shape& s = c.x;
        INFO("shape " << s << " hidden " << c.hd << " strided " << strided << " in place " << in_place);
        const int64_t C = s.c(), hd = c.hd;
        const TH x = random_tensor<float>(s, rng);
        const TH w1 = random_tensor<float>(Shape{hd, C, 1, 1}, rng), b1 = random_tensor<float>(Shape{hd}, rng, 0.0, 0.5);
        const TH w2 = random_tensor<float>(Shape{C, hd, 1, 1}, rng), b2 = random_tensor<float>(Shape{C}, rng);
        Slot gx(g, s, strided, rng, &x);
        Slot gy(g, s, strided, rng);
        TD& y = in_place ? gx.t : gy.t;
        TD gw1 = from_host(g, w1), gb1 = from_host(g, b1), gw2 = from_host(g, w2), gb2 = from_host(g, b2);
        SeSaved<float, Dut> gsaved = se_saved_for<float, Dut>(g, s, hd);
        se_relu_forward(g, gx.t, gw1, gb1, gw2, gb2, y, gsaved);

        const THd xd = as_double(x);
        THd ry(s);
        SeSaved<double, Cpu> rsaved = se_saved_for<double, Cpu>(cpu, s, hd);
        cpu::se_relu_forward(xd, as_double(w1), as_double(b1), as_double(w2), as_double(b2), ry, rsaved.mean,
                             rsaved.hidden, rsaved.scale);
        require_parity(g, y, ry, "se_relu y");
        (in_place ? gx : gy).require_outside_untouched(g, "se_relu y");
        require_parity(g, gsaved.mean, rsaved.mean, "se_relu mean");
        require_parity(g, gsaved.hidden, rsaved.hidden, "se_relu hidden");
        require_parity(g, gsaved.scale, rsaved.scale, "se_relu scale");
        // some outputs are clipped: the ReLU is exercised
        const TH hy = download(g, y);
        int64_t zeros = 0;
        for (int64_t i = 0; i < hy.numel(); ++i) zeros += hy[i] == 0.0f;
        CHECK(zeros > 0);
        CHECK(zeros < hy.numel());
      }
}
