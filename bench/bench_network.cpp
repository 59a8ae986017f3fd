// Whole-network and SRFV-block benchmarks (CPU always, CUDA when built with it and a GPU is present).
//
//   net_infer/<dev>/form:<fused|train>/base/batch/size   eval-mode z_0 of one fixed batch
//       counters: images/s, GFLOP/s = 2 * model_stats MACs (SPEC §1: 159.6 GMAC fused and
//       283.8 GMAC training form per 1x1x512x512 image at base 64) * batch / time.
//   net_train_step/<dev>/base/batch/size   forward_train (all four scales), deep-supervision loss
//       and its gradient, backward, one Adam update. GFLOP/s counts 3x the training-form MACs
//       (forward, backward data, backward filter), heads excluded.
//   block/<dev>/<eval_train_form|eval_fused|train_step>/c/size   one SRFV block c -> c, batch 1,
//       eval forward of the training form, of its fused form, and forward_train + backward.
//
// Sizes: CPU inference batch 1 at 512x512 (base 64), CPU training base 16, batch 8, 128x128;
// CUDA inference batch 1 and 8 at 512x512, CUDA training base 16 (b 8, 128) and base 64 (b 8, 256).
// One untimed warm-up pass allocates every buffer before the clock starts.
// Weights: SRMDS_BENCH_WEIGHTS (see bench_common.hpp), e.g. the files bench/compare_pytorch.py writes.
//   bench_network --benchmark_filter='net_infer/cpu' --benchmark_format=json
#include <array>
#include <string>

#include "bench_common.hpp"
#include "srmds/blocks/srfv_block.hpp"
#include "srmds/losses/deep_supervision.hpp"
#include "srmds/optim/adam.hpp"

namespace {

using namespace srmds;
using bench::context_or_skip;
using bench::finish;

template <class D, NetForm form>
void bm_net_infer(benchmark::State& state) {
  const int base = static_cast<int>(state.range(0));
  const int64_t batch = state.range(1), size = state.range(2);
  Context<D>* ctx = context_or_skip<D>(state);
  if (!ctx) return;
  std::string label;
  auto net = bench::make_net<D>(*ctx, base, form, label);
  const auto x = bench::random_tensor(*ctx, Shape{batch, 1, size, size}, 11, 0, 1);
  Tensor<float, D> z(Shape{batch, 1, size, size}, *ctx);
  net.forward_eval(*ctx, x, z);  // warm-up: buffers, conv plans
  finish(*ctx);
  for (auto _ : state) {
    net.forward_eval(*ctx, x, z);
    finish(*ctx);
  }
  state.SetLabel(label);
  const double macs = static_cast<double>(model_stats(net.config(), form, size, size).macs);
  bench::set_rates(state, static_cast<double>(batch), macs * static_cast<double>(batch), 0);
}

template <class D>
void bm_net_train_step(benchmark::State& state) {
  const int base = static_cast<int>(state.range(0));
  const int64_t batch = state.range(1), size = state.range(2);
  Context<D>* ctx = context_or_skip<D>(state);
  if (!ctx) return;
  std::string label;
  auto net = bench::make_net<D>(*ctx, base, NetForm::Train, label);
  const auto x = bench::random_tensor(*ctx, Shape{batch, 1, size, size}, 12, 0, 1);
  const auto mask = from_host(*ctx, bench::random_mask(Shape{batch, 1, size, size}, 13));
  DeepSupervisionLoss<float, D> loss(net.config());
  std::array<Tensor<float, D>, kNumScales> dz;
  Adam<float, D> adam(*ctx, net.state());
  auto step = [&] {
    const auto& z = net.forward_train(*ctx, x);
    loss.forward_backward(*ctx, z, mask, dz);
    net.backward(*ctx, dz, WriteMode::Overwrite);
    adam.step(*ctx);
  };
  step();  // warm-up
  finish(*ctx);
  for (auto _ : state) {
    step();
    finish(*ctx);
  }
  state.SetLabel(label);
  const double macs = static_cast<double>(model_stats(net.config(), NetForm::Train, size, size).macs);
  bench::set_rates(state, static_cast<double>(batch), 3 * macs * static_cast<double>(batch), 0);
}

enum class BlockCase { EvalTrainForm, EvalFused, TrainStep };

template <class D, BlockCase which>
void bm_block(benchmark::State& state) {
  const int64_t c = state.range(0), size = state.range(1);
  Context<D>* ctx = context_or_skip<D>(state);
  if (!ctx) return;
  NetConfig cfg;
  Rng rng(5);
  SrfvBlock<float, D> block(*ctx, cfg, c, c, rng);
  Scratch<float, D> scratch;
  const auto x = bench::random_tensor(*ctx, Shape{1, c, size, size}, 14);
  Tensor<float, D> y(Shape{1, c, size, size}, *ctx);
  auto fused = block.fused(*ctx);
  const auto dy = bench::random_tensor(*ctx, Shape{1, c, size, size}, 15);
  Tensor<float, D> dx(Shape{1, c, size, size}, *ctx);
  auto run = [&] {
    if constexpr (which == BlockCase::EvalTrainForm) {
      block.forward_eval(*ctx, x, y, scratch);
    } else if constexpr (which == BlockCase::EvalFused) {
      fused.forward_eval(*ctx, x, y, scratch);
    } else {
      block.forward_train(*ctx, x, y, scratch);
      block.backward(*ctx, dy, &dx, WriteMode::Overwrite, WriteMode::Overwrite, scratch);
    }
  };
  run();
  finish(*ctx);
  for (auto _ : state) {
    run();
    finish(*ctx);
  }
  const NetForm form = which == BlockCase::EvalFused ? NetForm::Fused : NetForm::Train;
  const double macs = static_cast<double>(detail::block_stats(cfg, form, c, c, size * size).macs);
  bench::set_rates(state, 1, (which == BlockCase::TrainStep ? 3 : 1) * macs, 0);
}

void net_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"base", "batch", "size"})->UseRealTime()->Unit(benchmark::kMillisecond);
}
void block_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"c", "size"})->Args({64, 256})->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

// ---- CPU ---------------------------------------------------------------------------------------
BENCHMARK(bm_net_infer<Cpu, NetForm::Fused>)->Name("net_infer/cpu/form:fused")->Apply(net_args)->Args({64, 1, 512});
BENCHMARK(bm_net_infer<Cpu, NetForm::Train>)->Name("net_infer/cpu/form:train")->Apply(net_args)->Args({64, 1, 512});
BENCHMARK(bm_net_train_step<Cpu>)->Name("net_train_step/cpu")->Apply(net_args)->Args({16, 8, 128})->Args({16, 8, 256});
BENCHMARK(bm_block<Cpu, BlockCase::EvalTrainForm>)->Name("block/cpu/eval_train_form")->Apply(block_args);
BENCHMARK(bm_block<Cpu, BlockCase::EvalFused>)->Name("block/cpu/eval_fused")->Apply(block_args);
BENCHMARK(bm_block<Cpu, BlockCase::TrainStep>)->Name("block/cpu/train_step")->Apply(block_args);

// ---- CUDA (skipped without a GPU) ---------------------------------------------------------------
#if SRMDS_WITH_CUDA
BENCHMARK(bm_net_infer<Cuda, NetForm::Fused>)
    ->Name("net_infer/cuda/form:fused")
    ->Apply(net_args)
    ->Args({64, 1, 512})
    ->Args({64, 8, 512});
BENCHMARK(bm_net_infer<Cuda, NetForm::Train>)
    ->Name("net_infer/cuda/form:train")
    ->Apply(net_args)
    ->Args({64, 1, 512})
    ->Args({64, 8, 512});
BENCHMARK(bm_net_train_step<Cuda>)->Name("net_train_step/cuda")->Apply(net_args)->Args({16, 8, 128})->Args({64, 8, 256});
BENCHMARK(bm_block<Cuda, BlockCase::EvalTrainForm>)->Name("block/cuda/eval_train_form")->Apply(block_args);
BENCHMARK(bm_block<Cuda, BlockCase::EvalFused>)->Name("block/cuda/eval_fused")->Apply(block_args);
BENCHMARK(bm_block<Cuda, BlockCase::TrainStep>)->Name("block/cuda/train_step")->Apply(block_args);
#endif

SRMDS_BENCHMARK_MAIN()
