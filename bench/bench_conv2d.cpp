// CPU conv2d throughput: GFLOP/s = 2 * multiply-accumulates / wall time, one image.
//   bench_conv2d --benchmark_filter=3x3      (threads: OMP_NUM_THREADS)
// conv3x3_algo/<im2col|f2x2|f4x4>: the three forward 3x3 algorithms on the fused network's layer
// shapes (base 64 at 512x512), called directly, so that conv2d_forward's choice can be checked.
// Compare with PyTorch on the same machine: torch.nn.functional.conv2d with torch.set_num_threads.
#include <benchmark/benchmark.h>

#include <vector>

#include "srmds/core/rng.hpp"
#include "srmds/cpu/conv2d.hpp"
#include "srmds/cpu/conv2d_winograd.hpp"
#include "srmds/ops/conv2d.hpp"

namespace {

using srmds::Context;
using srmds::Cpu;
using srmds::Shape;
using srmds::Tensor;
using srmds::WriteMode;

Tensor<float> random_tensor(const Shape& s, uint64_t seed) {
  srmds::Rng rng(seed);
  Tensor<float> t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.uniform(-1, 1));
  return t;
}

enum class Pass { Forward, BackwardData, BackwardFilter };

// Args: cin, cout, size (H = W), kh, kw.
template <Pass pass>
void bm_conv(benchmark::State& state) {
  const int64_t cin = state.range(0), cout = state.range(1), size = state.range(2);
  const int64_t kh = state.range(3), kw = state.range(4);
  Context<Cpu> ctx;
  const auto x = random_tensor(Shape{1, cin, size, size}, 1);
  const auto w = random_tensor(Shape{cout, cin, kh, kw}, 2);
  const auto b = random_tensor(Shape{cout}, 3);
  const auto dy = random_tensor(Shape{1, cout, size, size}, 4);
  Tensor<float> y(Shape{1, cout, size, size}), dx(x.shape()), dw(w.shape());
  for (auto _ : state) {
    if constexpr (pass == Pass::Forward) {
      srmds::conv2d_forward(ctx, x, w, &b, y);
      benchmark::DoNotOptimize(y.data());
    } else if constexpr (pass == Pass::BackwardData) {
      srmds::conv2d_backward_data(ctx, dy, w, dx, WriteMode::Overwrite);
      benchmark::DoNotOptimize(dx.data());
    } else {
      srmds::conv2d_backward_filter(ctx, x, dy, dw, WriteMode::Overwrite);
      benchmark::DoNotOptimize(dw.data());
    }
    benchmark::ClobberMemory();
  }
  const double macs = static_cast<double>(cin * cout * kh * kw * size * size);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2 * macs * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

enum class Algo { Im2col, F2x2, F4x4 };

// Args: cin, cout, size (H = W); MACs counted as for the direct convolution.
template <Algo algo>
void bm_conv3x3_algo(benchmark::State& state) {
  const int64_t cin = state.range(0), cout = state.range(1), size = state.range(2);
  const auto x = random_tensor(Shape{1, cin, size, size}, 1);
  const auto w = random_tensor(Shape{cout, cin, 3, 3}, 2);
  const auto b = random_tensor(Shape{cout}, 3);
  Tensor<float> y(Shape{1, cout, size, size});
  for (auto _ : state) {
    if constexpr (algo == Algo::Im2col)
      srmds::cpu::detail::conv2d_banded(x, w.data(), 3, 3, b.data(), y, false, int64_t(1) << 20, 192);
    else if constexpr (algo == Algo::F2x2)
      srmds::cpu::conv2d_winograd3x3(x, w, &b, y);
    else
      srmds::cpu::conv2d_winograd3x3_f4x4(x, w, &b, y);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double macs = static_cast<double>(cin * cout * 9 * size * size);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2 * macs * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void algo_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"cin", "cout", "size"})->UseRealTime()->Unit(benchmark::kMillisecond);
  // Every 3x3 shape of the fused network with Cin > 1 (stage by stage, encoder then decoder).
  for (const auto& a : std::vector<std::vector<int64_t>>{{64, 64, 512},    {64, 128, 256},  {128, 128, 256},
                                                          {128, 256, 128},  {256, 256, 128}, {256, 512, 64},
                                                          {512, 512, 64},   {512, 512, 32},  {1024, 512, 64},
                                                          {512, 256, 64},   {512, 256, 128}, {256, 128, 128},
                                                          {256, 128, 256},  {128, 64, 256},  {128, 64, 512}})
    b->Args(a);
}

void conv_args(benchmark::internal::Benchmark* b, int64_t kh, int64_t kw) {
  b->ArgNames({"cin", "cout", "size", "kh", "kw"})->Args({64, 64, 256, kh, kw})->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(bm_conv<Pass::Forward>)->Name("conv3x3_forward")->Apply([](auto* b) {
  conv_args(b, 3, 3);
  b->Args({128, 128, 128, 3, 3})->Args({512, 512, 32, 3, 3});  // deeper U-Net levels
});
BENCHMARK(bm_conv<Pass::BackwardData>)->Name("conv3x3_backward_data")->Apply([](auto* b) { conv_args(b, 3, 3); });
BENCHMARK(bm_conv<Pass::BackwardFilter>)->Name("conv3x3_backward_filter")->Apply([](auto* b) { conv_args(b, 3, 3); });
BENCHMARK(bm_conv<Pass::Forward>)->Name("conv1x3_forward")->Apply([](auto* b) { conv_args(b, 1, 3); });
BENCHMARK(bm_conv<Pass::Forward>)->Name("conv3x1_forward")->Apply([](auto* b) { conv_args(b, 3, 1); });
BENCHMARK(bm_conv<Pass::Forward>)->Name("conv1x1_forward")->Apply([](auto* b) { conv_args(b, 1, 1); });

BENCHMARK(bm_conv3x3_algo<Algo::Im2col>)->Name("conv3x3_algo/im2col")->Apply(algo_args);
BENCHMARK(bm_conv3x3_algo<Algo::F2x2>)->Name("conv3x3_algo/f2x2")->Apply(algo_args);
BENCHMARK(bm_conv3x3_algo<Algo::F4x4>)->Name("conv3x3_algo/f4x4")->Apply(algo_args);

BENCHMARK_MAIN();
