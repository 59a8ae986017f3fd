// Per-op throughput on the CPU and (built with CUDA, GPU present) on the GPU.
//
//   conv/<dev>/<fwd|bwd_data|bwd_filter>/k:<kh>x<kw>/c/size   one branch shape of an SRFV block,
//       c -> c, batch 1; GFLOP/s = 2 * c * c * kh * kw * size^2 / time.
//   bn_train, bn_eval, bn_backward, upsample, upsample_backward, maxpool, maxpool_backward, se,
//   se_relu, se_backward, relu   memory-bound ops on (1, c, size, size); bytes/s counts one read of every
//       input and one write of every output element (the minimum traffic).
//   loss/<dev>/<bce_dice|deep_supervision>/batch/size   loss and gradient (dz)
//   confusion/<dev>/batch/size   per-image TP/FP/TN/FN counts
//   adam/<dev>/numel   one Adam update of a parameter (reads p, g, m, v; writes p, m, v)
// CUDA cases are registered only in CUDA builds and are skipped (SkipWithError) without a GPU.
//   bench_ops --benchmark_filter='conv/cpu' --benchmark_format=json --benchmark_out=ops.json
#include <array>
#include <cstdint>

#include "bench_common.hpp"
#include "srmds/losses/deep_supervision.hpp"
#include "srmds/ops/adam.hpp"
#include "srmds/ops/batchnorm.hpp"
#include "srmds/ops/bce_dice.hpp"
#include "srmds/ops/confusion_counts.hpp"
#include "srmds/ops/conv2d.hpp"
#include "srmds/ops/maxpool.hpp"
#include "srmds/ops/relu.hpp"
#include "srmds/ops/se.hpp"
#include "srmds/ops/upsample.hpp"
#include "srmds/optim/adam.hpp"

namespace {

using namespace srmds;
using bench::context_or_skip;
using bench::finish;
using bench::random_tensor;

constexpr double kF = sizeof(float);

// Runs `body` once untimed, then in the timed loop, synchronising the device after each call.
template <class D, class F>
void timed_loop(benchmark::State& state, Context<D>& ctx, F&& body) {
  body();
  finish(ctx);
  for (auto _ : state) {
    body();
    finish(ctx);
  }
}

// ---- convolution ----------------------------------------------------------------------------
enum class ConvPass { Forward, BackwardData, BackwardFilter };

// Args: c, size, kh, kw.
template <class D, ConvPass pass>
void bm_conv(benchmark::State& state) {
  const int64_t c = state.range(0), size = state.range(1), kh = state.range(2), kw = state.range(3);
  Context<D>* ctx = context_or_skip<D>(state);
  if (!ctx) return;
  const auto x = random_tensor(*ctx, Shape{1, c, size, size}, 1);
  const auto w = random_tensor(*ctx, Shape{c, c, kh, kw}, 2);
  const auto dy = random_tensor(*ctx, Shape{1, c, size, size}, 3);
  Tensor<float, D> y(Shape{1, c, size, size}, *ctx), dx(x.shape(), *ctx), dw(w.shape(), *ctx);
  timed_loop(state, *ctx, [&] {
    if constexpr (pass == ConvPass::Forward)
      conv2d_forward(*ctx, x, w, nullptr, y);
    else if constexpr (pass == ConvPass::BackwardData)
      conv2d_backward_data(*ctx, dy, w, dx, WriteMode::Overwrite);
    else
      conv2d_backward_filter(*ctx, x, dy, dw, WriteMode::Overwrite);
  });
  bench::set_rates(state, 0, static_cast<double>(c * c * kh * kw * size * size), 0);
}

// ---- memory-bound ops on (1, c, size, size) ---------------------------------------------------
enum class MemOp {
  BnTrain,
  BnEval,
  BnBackward,
  Upsample,
  UpsampleBackward,
  Maxpool,
  MaxpoolBackward,
  Se,
  SeRelu,
  SeBackward,
  Relu
};

// Args: c, size (the full-resolution side for upsample and max-pool).
template <class D, MemOp op>
void bm_mem(benchmark::State& state) {
  const int64_t c = state.range(0), size = state.range(1), half = size / 2;
  Context<D>* ctx = context_or_skip<D>(state);
  if (!ctx) return;
  const Shape full{1, c, size, size}, low{1, c, half, half}, vec{c};
  const double n_full = static_cast<double>(full.numel()), n_low = static_cast<double>(low.numel());
  double bytes = 0;
  auto x = random_tensor(*ctx, full, 1);
  auto dy = random_tensor(*ctx, full, 2);
  Tensor<float, D> y(full, *ctx), dx(full, *ctx);
  auto gamma = random_tensor(*ctx, vec, 3, 0.5, 1.5), beta = random_tensor(*ctx, vec, 4);
  auto rmean = random_tensor(*ctx, vec, 5), rvar = random_tensor(*ctx, vec, 6, 0.5, 1.5);
  Tensor<float, D> smean(vec, *ctx), sinv(vec, *ctx), dgamma(vec, *ctx), dbeta(vec, *ctx);

  if constexpr (op == MemOp::BnTrain || op == MemOp::BnEval || op == MemOp::BnBackward) {
    batchnorm_forward_train(*ctx, x, gamma, beta, rmean, rvar, 0.1, 1e-5, y, WriteMode::Overwrite, smean, sinv);
    timed_loop(state, *ctx, [&] {
      if constexpr (op == MemOp::BnTrain)
        batchnorm_forward_train(*ctx, x, gamma, beta, rmean, rvar, 0.1, 1e-5, y, WriteMode::Overwrite, smean, sinv);
      else if constexpr (op == MemOp::BnEval)
        batchnorm_forward_eval(*ctx, x, gamma, beta, rmean, rvar, 1e-5, y, WriteMode::Overwrite);
      else
        batchnorm_backward(*ctx, x, dy, gamma, smean, sinv, &dx, WriteMode::Overwrite, &dgamma, &dbeta,
                           WriteMode::Overwrite);
    });
    bytes = (op == MemOp::BnBackward ? 3 : 2) * n_full * kF;
  } else if constexpr (op == MemOp::Upsample || op == MemOp::UpsampleBackward) {
    auto xl = random_tensor(*ctx, low, 7);
    Tensor<float, D> dxl(low, *ctx);
    timed_loop(state, *ctx, [&] {
      if constexpr (op == MemOp::Upsample)
        upsample_bilinear_forward(*ctx, xl, y, true);
      else
        upsample_bilinear_backward(*ctx, dy, dxl, true, WriteMode::Overwrite);
    });
    bytes = (n_full + n_low) * kF;
  } else if constexpr (op == MemOp::Maxpool || op == MemOp::MaxpoolBackward) {
    Tensor<float, D> yl(low, *ctx);
    Tensor<int32_t, D> argmax(low, *ctx);
    auto dyl = random_tensor(*ctx, low, 8);
    maxpool2_forward(*ctx, x, yl, argmax);
    timed_loop(state, *ctx, [&] {
      if constexpr (op == MemOp::Maxpool)
        maxpool2_forward(*ctx, x, yl, argmax);
      else
        maxpool2_backward(*ctx, dyl, argmax, dx, WriteMode::Overwrite);
    });
    bytes = (n_full + 2 * n_low) * kF;
  } else if constexpr (op == MemOp::Se || op == MemOp::SeRelu || op == MemOp::SeBackward) {
    const int64_t hd = std::max<int64_t>(c / 16, 4);
    auto w1 = random_tensor(*ctx, Shape{hd, c, 1, 1}, 9), b1 = random_tensor(*ctx, Shape{hd}, 10);
    auto w2 = random_tensor(*ctx, Shape{c, hd, 1, 1}, 11), b2 = random_tensor(*ctx, Shape{c}, 12);
    Tensor<float, D> dw1(w1.shape(), *ctx), db1(b1.shape(), *ctx), dw2(w2.shape(), *ctx), db2(b2.shape(), *ctx);
    SeSaved<float, D> saved = se_saved_for<float, D>(*ctx, full, hd);
    se_forward(*ctx, x, w1, b1, w2, b2, y, saved);
    timed_loop(state, *ctx, [&] {
      if constexpr (op == MemOp::Se)
        se_forward(*ctx, x, w1, b1, w2, b2, y, saved);
      else if constexpr (op == MemOp::SeRelu)
        se_relu_forward(*ctx, x, w1, b1, w2, b2, y, saved);
      else
        se_backward(*ctx, x, dy, w1, b1, w2, b2, saved, dx, WriteMode::Overwrite, dw1, db1, dw2, db2,
                    WriteMode::Overwrite);
    });
    bytes = (op == MemOp::SeBackward ? 3 : 2) * n_full * kF;
  } else {  // Relu
    timed_loop(state, *ctx, [&] { relu_forward(*ctx, x, y); });
    bytes = 2 * n_full * kF;
  }
  bench::set_rates(state, 0, 0, bytes);
}

// ---- loss, metrics, optimizer ------------------------------------------------------------------
enum class LossKind { BceDice, DeepSupervision };

// Args: batch, size.
template <class D, LossKind kind>
void bm_loss(benchmark::State& state) {
  const int64_t n = state.range(0), size = state.range(1);
  Context<D>* ctx = context_or_skip<D>(state);
  if (!ctx) return;
  const Shape s{n, 1, size, size};
  const auto mask = from_host(*ctx, bench::random_mask(s, 1));
  std::array<Tensor<float, D>, kNumScales> z, dz;
  for (int k = 0; k < kNumScales; ++k) z[k] = random_tensor(*ctx, Shape{n, 1, size >> k, size >> k}, 2 + k, -4, 4);
  DeepSupervisionLoss<float, D> ds{NetConfig{}};
  Tensor<float, D> dz0(s, *ctx);
  double sink = 0;
  timed_loop(state, *ctx, [&] {
    if constexpr (kind == LossKind::BceDice)
      sink += bce_dice_loss(*ctx, z[0], mask, 1.0, &dz0, WriteMode::Overwrite);
    else
      sink += ds.forward_backward(*ctx, z, mask, dz);
  });
  benchmark::DoNotOptimize(sink);
  // z and mask read, dz written at full resolution (the coarser scales add 1/3 at most).
  bench::set_rates(state, static_cast<double>(n), 0, 3 * static_cast<double>(s.numel()) * kF);
}

template <class D>
void bm_confusion(benchmark::State& state) {
  const int64_t n = state.range(0), size = state.range(1);
  Context<D>* ctx = context_or_skip<D>(state);
  if (!ctx) return;
  const Shape s{n, 1, size, size};
  const auto z = random_tensor(*ctx, s, 1);
  const auto mask = from_host(*ctx, bench::random_mask(s, 2));
  Tensor<int64_t, D> counts(Shape{n, 4}, *ctx);
  timed_loop(state, *ctx, [&] { confusion_counts(*ctx, z, mask, counts); });
  bench::set_rates(state, static_cast<double>(n), 0, 2 * static_cast<double>(s.numel()) * kF);
}

template <class D>
void bm_adam(benchmark::State& state) {
  const int64_t numel = state.range(0);
  Context<D>* ctx = context_or_skip<D>(state);
  if (!ctx) return;
  const Shape s{numel};
  auto p = random_tensor(*ctx, s, 1), g = random_tensor(*ctx, s, 2);
  auto m = random_tensor(*ctx, s, 3), v = random_tensor(*ctx, s, 4, 0, 1);
  AdamStep step;
  step.bias_correction1 = 0.1;
  step.bias_correction2 = 0.001;
  timed_loop(state, *ctx, [&] { adam_step(*ctx, p, g, m, v, step); });
  bench::set_rates(state, 0, 0, 7 * static_cast<double>(numel) * kF);
}

// ---- registration ------------------------------------------------------------------------------
void conv_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"c", "size", "kh", "kw"})->UseRealTime()->Unit(benchmark::kMillisecond);
  for (const auto& k : {std::array<int64_t, 2>{3, 3}, {1, 3}, {3, 1}, {1, 1}}) b->Args({64, 256, k[0], k[1]});
  b->Args({512, 32, 3, 3});  // the deepest level at 512x512 input
}
void conv3x3_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"c", "size", "kh", "kw"})->UseRealTime()->Unit(benchmark::kMillisecond)->Args({64, 256, 3, 3});
}
void mem_shape(benchmark::internal::Benchmark* b) {
  b->ArgNames({"c", "size"})->Args({64, 256})->UseRealTime()->Unit(benchmark::kMicrosecond);
}
void loss_shape(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch", "size"})->Args({8, 512})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

template <class D>
int register_device(const char* dev) {
  const std::string d = dev;
  auto reg = [&](const std::string& name, auto fn) { return benchmark::RegisterBenchmark(name.c_str(), fn); };
  reg("conv/" + d + "/fwd", bm_conv<D, ConvPass::Forward>)->Apply(conv_shapes);
  reg("conv/" + d + "/bwd_data", bm_conv<D, ConvPass::BackwardData>)->Apply(conv3x3_shapes);
  reg("conv/" + d + "/bwd_filter", bm_conv<D, ConvPass::BackwardFilter>)->Apply(conv3x3_shapes);
  reg("bn_train/" + d, bm_mem<D, MemOp::BnTrain>)->Apply(mem_shape);
  reg("bn_eval/" + d, bm_mem<D, MemOp::BnEval>)->Apply(mem_shape);
  reg("bn_backward/" + d, bm_mem<D, MemOp::BnBackward>)->Apply(mem_shape);
  reg("upsample/" + d, bm_mem<D, MemOp::Upsample>)->Apply(mem_shape);
  reg("upsample_backward/" + d, bm_mem<D, MemOp::UpsampleBackward>)->Apply(mem_shape);
  reg("maxpool/" + d, bm_mem<D, MemOp::Maxpool>)->Apply(mem_shape);
  reg("maxpool_backward/" + d, bm_mem<D, MemOp::MaxpoolBackward>)->Apply(mem_shape);
  reg("se/" + d, bm_mem<D, MemOp::Se>)->Apply(mem_shape);
  reg("se_relu/" + d, bm_mem<D, MemOp::SeRelu>)->Apply(mem_shape);
  reg("se_backward/" + d, bm_mem<D, MemOp::SeBackward>)->Apply(mem_shape);
  reg("relu/" + d, bm_mem<D, MemOp::Relu>)->Apply(mem_shape);
  reg("loss/" + d + "/bce_dice", bm_loss<D, LossKind::BceDice>)->Apply(loss_shape);
  reg("loss/" + d + "/deep_supervision", bm_loss<D, LossKind::DeepSupervision>)->Apply(loss_shape);
  reg("confusion/" + d, bm_confusion<D>)->Apply(loss_shape);
  reg("adam/" + d, bm_adam<D>)->Arg(1 << 22)->ArgName("numel")->UseRealTime()->Unit(benchmark::kMicrosecond);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  register_device<Cpu>("cpu");
#if SRMDS_WITH_CUDA
  register_device<Cuda>("cuda");
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  srmds::bench::release_contexts();  // the CUDA context goes before the CUDA runtime shuts down
  return 0;
}
