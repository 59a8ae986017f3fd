// Shared helpers of the Google Benchmark programs (bench_ops, bench_network):
//   - random host tensors and their copies on a device;
//   - the benchmark context of a device: the CPU always, CUDA when built with SRMDS_WITH_CUDA and a
//     GPU is present (otherwise the case is skipped with state.SkipWithError). The CUDA context is
//     created on first use and destroyed by SRMDS_BENCHMARK_MAIN() before main returns: a static
//     destroyed at exit would run after the CUDA runtime has shut down;
//   - counters: images/s, GFLOP/s (2 * multiply-accumulates per second) and bytes/s (memory-bound ops);
//   - the network under test, from random initialisation or from weight files named in
//     SRMDS_BENCH_WEIGHTS (a ':'-separated list; the first file with the requested base and form
//     is used), so bench/compare_pytorch.py can run PyTorch on the same weights.
// CUDA timing: every iteration ends with ctx.synchronize(), so wall time covers the queued work.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "srmds/core/context.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/tensor_ops.hpp"

#if SRMDS_WITH_CUDA
#include "srmds/cuda/context.hpp"
#endif

namespace srmds::bench {

// Uniform(lo, hi) host tensor.
inline Tensor<float, Cpu> random_host(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  Rng rng(seed);
  Tensor<float, Cpu> t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.uniform(lo, hi));
  return t;
}

// A binary mask (about a quarter of the pixels set, in blobs of 8x8).
inline Tensor<float, Cpu> random_mask(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  Tensor<float, Cpu> t(s);
  const int64_t n = s.n(), h = s.h(), w = s.w();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < h; i += 8)
      for (int64_t j = 0; j < w; j += 8) {
        const float v = rng.uniform(0, 1) < 0.25 ? 1.0f : 0.0f;
        for (int64_t p = i; p < std::min(h, i + 8); ++p)
          for (int64_t q = j; q < std::min(w, j + 8); ++q) t[(b * h + p) * w + q] = v;
      }
  return t;
}

template <class D>
Tensor<float, D> random_tensor(Context<D>& ctx, const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return from_host(ctx, random_host(s, seed, lo, hi));
}

// The context a benchmark of device D runs on, or nullptr after state.SkipWithError (no GPU).
// One context per device for the whole program (the CUDA allocator and conv plans stay warm).
template <class D>
Context<D>* context_or_skip(benchmark::State& state);

template <>
inline Context<Cpu>* context_or_skip<Cpu>(benchmark::State&) {
  static Context<Cpu> ctx;
  return &ctx;
}

#if SRMDS_WITH_CUDA
// The one CUDA context of the program (null until first use), and why it could not be made.
inline std::unique_ptr<Context<Cuda>>& cuda_context_slot() {
  static std::unique_ptr<Context<Cuda>> ctx;
  return ctx;
}

template <>
inline Context<Cuda>* context_or_skip<Cuda>(benchmark::State& state) {
  std::unique_ptr<Context<Cuda>>& ctx = cuda_context_slot();
  static std::string error;
  if (!ctx && error.empty()) {
    try {
      ctx = std::make_unique<Context<Cuda>>();
      // SRMDS_BENCH_TF32=0 benchmarks strict fp32 convolutions.
      const char* tf32 = std::getenv("SRMDS_BENCH_TF32");
      ctx->set_tf32(!(tf32 && std::string(tf32) == "0"));
    } catch (const std::exception& e) {
      error = std::string("no usable GPU: ") + e.what();
    }
  }
  if (!ctx) {
    state.SkipWithError(error.c_str());
    return nullptr;
  }
  return ctx.get();
}
#endif

// Destroys the CUDA context (its stream, cuDNN handle and cached device memory) while the CUDA
// runtime is still up. Called by SRMDS_BENCHMARK_MAIN() after the benchmarks have run.
inline void release_contexts() {
#if SRMDS_WITH_CUDA
  cuda_context_slot().reset();
#endif
}

// Waits for the device (CUDA) so wall time covers the queued work.
template <class D>
void finish(Context<D>& ctx) {
  ctx.synchronize();
}

// Counters per iteration: images, multiply-accumulates, bytes moved (0 leaves a counter out).
inline void set_rates(benchmark::State& state, double images, double macs, double bytes) {
  const double it = static_cast<double>(state.iterations());
  if (images > 0) state.counters["images/s"] = benchmark::Counter(images * it, benchmark::Counter::kIsRate);
  if (macs > 0) state.counters["GFLOP/s"] = benchmark::Counter(2 * macs * it / 1e9, benchmark::Counter::kIsRate);
  if (bytes > 0)
    state.counters["bytes/s"] =
        benchmark::Counter(bytes * it, benchmark::Counter::kIsRate, benchmark::Counter::OneK::kIs1024);
}

// The weight file of SRMDS_BENCH_WEIGHTS whose config has this base and form, if any.
inline std::optional<std::string> weights_file(int base, NetForm form) {
  const char* env = std::getenv("SRMDS_BENCH_WEIGHTS");
  if (!env) return std::nullopt;
  std::stringstream list(env);
  std::string path;
  while (std::getline(list, path, ':')) {
    if (path.empty()) continue;
    const io::WeightsInfo info = io::read_weights_info(io::read_safetensors(path), path);
    if (info.config.base == base && info.form == form) return path;
  }
  return std::nullopt;
}

// The network under test, of the given base and form: loaded from SRMDS_BENCH_WEIGHTS (a file of
// that form, or for the fused form the fusion of a training-form file), else random (seed 1; the
// fused form is then the fusion of the random training form). `label` says which.
template <class D>
SrmdsNet<float, D> make_net(Context<D>& ctx, int base, NetForm form, std::string& label) {
  if (const auto path = weights_file(base, form)) {
    label = "weights " + *path;
    return io::load_weights<float, D>(ctx, *path);
  }
  if (const auto path = weights_file(base, NetForm::Train)) {
    label = "fused from weights " + *path;
    return io::load_weights<float, D>(ctx, *path).fused(ctx);
  }
  NetConfig cfg;
  cfg.base = base;
  label = "random init";
  SrmdsNet<float, D> net(ctx, cfg, NetForm::Train, 1);
  if (form == NetForm::Train) return net;
  return net.fused(ctx);
}

}  // namespace srmds::bench

// BENCHMARK_MAIN() that releases the benchmark contexts before main returns.
#define SRMDS_BENCHMARK_MAIN()                                                \
  int main(int argc, char** argv) {                                           \
    ::benchmark::Initialize(&argc, argv);                                     \
    if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;       \
    ::benchmark::RunSpecifiedBenchmarks();                                    \
    ::benchmark::Shutdown();                                                  \
    ::srmds::bench::release_contexts();                                       \
    return 0;                                                                 \
  }
