// cuDNN convolutions (forward, backward data, filter, bias) against the CPU backend for every
// kernel shape, both write modes and strided channel views; the algorithm cache; the
// deterministic switch; cuDNN's 2^31-element limit.
#include "parity.hpp"
#if !SRMDS_CUDA_STANDIN
#include "kernels/cudnn.hpp"
#endif
#include "srmds/ops/conv2d.hpp"

using namespace srmds;
using namespace srmds::test;

namespace {

struct ConvCase {
  int64_t n, cin, cout, h, w;
};

}  // namespace

TEST_CASE("conv2d forward and backward match the CPU backend", "[cuda][conv2d]") {
  Gpu gpu;
  auto& g = gpu.ctx;
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  const std::pair<int64_t, int64_t> kernels[] = {{1, 1}, {1, 3}, {3, 1}, {3, 3}};
  for (ConvCase cc : cases({ConvCase{2, 5, 7, 9, 6}, ConvCase{1, 3, 4, 16, 20}, ConvCase{3, 17, 9, 11, 13}}))
    for (auto [kh, kw] : kernels)
      for (bool strided : {false, true})
        for (WriteMode mode : {WriteMode::Overwrite, WriteMode::Accumulate}) {
          INFO("N " << cc.n << " Cin " << cc.cin << " Cout " << cc.cout << " H " << cc.h << " W " << cc.w << " kernel "
                    << kh << "x" << kw << " strided " << strided << " accumulate "
                    << (mode == WriteMode::Accumulate));
          const Shape xs{cc.n, cc.cin, cc.h, cc.w}, ys{cc.n, cc.cout, cc.h, cc.w}, ws{cc.cout, cc.cin, kh, kw};
          const TH x = random_tensor<float>(xs, rng), w = random_tensor<float>(ws, rng),
                   b = random_tensor<float>(Shape{cc.cout}, rng), dy = random_tensor<float>(ys, rng);
          const TH dx0 = random_tensor<float>(xs, rng), dw0 = random_tensor<float>(ws, rng),
                   db0 = random_tensor<float>(Shape{cc.cout}, rng);
          const THd xd = as_double(x), wd = as_double(w), bd = as_double(b), dyd = as_double(dy);
          Slot gx(g, xs, strided, rng, &x), gdy(g, ys, strided, rng, &dy);
          TD gw = from_host(g, w), gb = from_host(g, b);

          // forward, with and without bias
          for (bool with_bias : {false, true}) {
            Slot gy(g, ys, strided, rng);
            conv2d_forward(g, gx.t, gw, with_bias ? &gb : nullptr, gy.t);
            THd ry(ys);
            conv2d_forward(cpu, xd, wd, with_bias ? &bd : nullptr, ry);
            require_parity(g, gy.t, ry, with_bias ? "conv y (bias)" : "conv y");
            gy.require_outside_untouched(g, "conv y");
          }
          // backward data
          const bool acc = mode == WriteMode::Accumulate;
          Slot gdx(g, xs, strided, rng, acc ? &dx0 : nullptr);
          conv2d_backward_data(g, gdy.t, gw, gdx.t, mode);
          THd rdx = as_double(dx0);
          conv2d_backward_data(cpu, dyd, wd, rdx, mode);
          require_parity(g, gdx.t, rdx, "conv dx");
          gdx.require_outside_untouched(g, "conv dx");
          // backward filter and bias
          TD gdw = acc ? from_host(g, dw0) : TD(ws, g), gdb = acc ? from_host(g, db0) : TD(Shape{cc.cout}, g);
          conv2d_backward_filter(g, gx.t, gdy.t, gdw, mode);
          conv2d_backward_bias(g, gdy.t, gdb, mode);
          THd rdw = as_double(dw0), rdb = as_double(db0);
          conv2d_backward_filter(cpu, xd, dyd, rdw, mode);
          conv2d_backward_bias(cpu, dyd, rdb, mode);
          require_parity(g, gdw, rdw, "conv dw");
          require_parity(g, gdb, rdb, "conv db");
        }
}

#if !SRMDS_CUDA_STANDIN  // cuDNN's plans, TF32 and algorithms exist on a GPU only
TEST_CASE("conv2d plans are cached per configuration and TF32 stays close", "[cuda][conv2d]") {
  Context<Dut> g;  // TF32 on (default)
  Context<Cpu> cpu;
  Rng rng(fresh_seed());
  const Shape xs{2, 32, 24, 20}, ws{16, 32, 3, 3}, ys{2, 16, 24, 20};
  const TH x = random_tensor<float>(xs, rng), w = random_tensor<float>(ws, rng);
  TD gx = from_host(g, x), gw = from_host(g, w), gy(ys, g);
  conv2d_forward(g, gx, gw, nullptr, gy);
  const size_t plans = g.conv_plans().size();
  CHECK(plans == 1);
  const auto stats = g.allocator_stats();
  for (int i = 0; i < 3; ++i) conv2d_forward(g, gx, gw, nullptr, gy);
  CHECK(g.conv_plans().size() == plans);
  CHECK(g.allocator_stats().device_allocations == stats.device_allocations);
  THd ry(ys);
  conv2d_forward(cpu, as_double(x), as_double(w), nullptr, ry);
  require_parity(g, gy, ry, "conv y (TF32)", 1e-2, 1e-2);  // TF32 has a 10-bit mantissa
  g.set_tf32(false);
  conv2d_forward(g, gx, gw, nullptr, gy);
  CHECK(g.conv_plans().size() == plans + 1);  // math mode is part of the key
  require_parity(g, gy, ry, "conv y (FMA)");
}
#endif

TEST_CASE("conv2d rejects bad shapes on the GPU too", "[cuda][conv2d][errors]") {
  Context<Dut> g;
  TD x(Shape{1, 3, 8, 8}, g), w(Shape{4, 2, 3, 3}, g), y(Shape{1, 4, 8, 8}, g);
  REQUIRE_THROWS_WITH(conv2d_forward(g, x, w, nullptr, y), Catch::Contains("conv2d_forward") &&
                                                               Catch::Contains("[1, 3, 8, 8]") &&
                                                               Catch::Contains("[4, 2, 3, 3]"));
}

#if !SRMDS_CUDA_STANDIN
TEST_CASE("deterministic algorithms: repeated backward passes are bitwise equal", "[cuda][conv2d][determinism]") {
  Context<Dut> g;
  g.set_tf32(false);
  g.set_deterministic(true);
  Rng rng(fresh_seed());
  // Large enough that cuDNN's fastest backward-filter algorithms would split the reduction.
  const Shape xs{8, 64, 64, 64}, ws{64, 64, 3, 3};
  const TH x = random_tensor<float>(xs, rng), dy = random_tensor<float>(xs, rng), w = random_tensor<float>(ws, rng);
  TD gx = from_host(g, x), gdy = from_host(g, dy), gw = from_host(g, w);
  TD dw1(ws, g), dw2(ws, g), dx1(xs, g), dx2(xs, g);
  const size_t plans = g.conv_plans().size();
  conv2d_backward_filter(g, gx, gdy, dw1, WriteMode::Overwrite);
  conv2d_backward_data(g, gdy, gw, dx1, WriteMode::Overwrite);
  conv2d_backward_filter(g, gx, gdy, dw2, WriteMode::Overwrite);
  conv2d_backward_data(g, gdy, gw, dx2, WriteMode::Overwrite);
  CHECK(g.conv_plans().size() == plans + 2);
  const TH a = download(g, dw1), b = download(g, dw2), c = download(g, dx1), d = download(g, dx2);
  int64_t differ = 0;
  for (int64_t i = 0; i < a.numel(); ++i) differ += a[i] != b[i];
  for (int64_t i = 0; i < c.numel(); ++i) differ += c[i] != d[i];
  CHECK(differ == 0);
  g.set_deterministic(false);  // the switch is part of the plan key
  conv2d_backward_filter(g, gx, gdy, dw2, WriteMode::Overwrite);
  CHECK(g.conv_plans().size() == plans + 3);
}

TEST_CASE("conv2d past cuDNN's 2^31-element limit is a clear srmds::Error", "[cuda][conv2d][errors][large]") {
  Context<Dut> g;
  // x and y of 46341^2 > 2^31 - 1 floats (8 GiB each): the check must throw before cuDNN sees them.
  size_t free_bytes = 0, total_bytes = 0;
  SRMDS_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (free_bytes < (size_t(17) << 30)) {
    WARN("less than 17 GiB free on the GPU: the over-limit tensors are not allocated (the check itself is "
         "tested on the CPU in tests/test_cudnn_limits.cpp)");
    return;
  }
  TD x(Shape{1, 1, 46341, 46341}, g), w(Shape{1, 1, 1, 1}, g), y(Shape{1, 1, 46341, 46341}, g);
  REQUIRE_THROWS_WITH(conv2d_forward(g, x, w, nullptr, y),
                      Catch::Contains("conv2d_forward") && Catch::Contains("2^31 - 1"));
}
#endif
