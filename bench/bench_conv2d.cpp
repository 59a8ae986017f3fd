// CPU conv2d throughput: GFLOP/s = 2 * multiply-accumulates / wall time, one image.
//   bench_conv2d --benchmark_filter=3x3      (threads: OMP_NUM_THREADS)
// Compare with PyTorch on the same machine: torch.nn.functional.conv2d with torch.set_num_threads.
#include <benchmark/benchmark.h>

#include "srmds/core/rng.hpp"
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

BENCHMARK_MAIN();
