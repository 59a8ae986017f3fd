// srmds bench [--device cpu] [--size 256] [--batch 4] [--base 16] [--seconds 2] [--model M]
//             [--precision fp32|bf16]:
// eval-mode inference speed (images/s) of the training form against the fused form on random
// inputs in [0, 1]; with --precision bf16 (CPU) the fused form runs its 3x3 convolutions in bf16
// (nets/precision.hpp; the training form stays fp32). Without --model a freshly initialised network (running statistics 0 and 1) is
// timed, since speed does not depend on the values; with --model, that training-form file.
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>

#include "usage_error.hpp"
#include "cli_util.hpp"
#include "commands.hpp"
#include "shared_options.hpp"
#include "size_arg.hpp"
#include "srmds/cpu/conv2d_bf16.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/memory_probe.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/infer/throughput.hpp"

namespace srmds::cli {

namespace {

struct BenchOptions {
  std::string device = "cpu", size = "256", model, precision = "fp32";
  int batch = 4, base = 16;
  double seconds = 2;
};

void run_bench(const BenchOptions& o) {
  if (o.batch < 1 || o.batch > 1024) SRMDS_USAGE("bench: --batch must be in [1, 1024], got " << o.batch);
  if (o.base < 1 || o.base > 1024) SRMDS_USAGE("bench: --base must be in [1, 1024], got " << o.base);
  if (!(o.seconds >= 0 && o.seconds <= 600)) SRMDS_USAGE("bench: --seconds must be in [0, 600], got " << o.seconds);
  const std::array<int, 2> hw = parse_size(o.size, "--size");
  const Precision precision = parse_precision(o.precision);
  if (precision == Precision::Bf16 && o.device != "cpu")
    SRMDS_USAGE("bench: --precision bf16 runs on the CPU only (--device cpu)");
  with_device(o.device, [&](auto& ctx) {
    using D = device_of_t<decltype(ctx)>;
    NetConfig cfg;
    cfg.base = o.base;
    SrmdsNet<float, D> net = o.model.empty() ? SrmdsNet<float, D>(ctx, cfg, NetForm::Train, /*seed=*/1)
                                             : io::load_weights<float, D>(ctx, o.model);
    if (net.form() != NetForm::Train) SRMDS_THROW("bench: '" << o.model << "' is a fused model; give a training-form one");
    cfg = net.config();
    if constexpr (std::is_same_v<D, Cpu>)  // both forms' activations and weights are held at once
      require_memory(probe_eval_memory(cfg, NetForm::Train).bytes(o.batch, hw[0], hw[1]) +
                         probe_eval_memory(cfg, NetForm::Fused).bytes(o.batch, hw[0], hw[1]),
                     "bench: base " + std::to_string(cfg.base) + ", batch " + std::to_string(o.batch) + " at " +
                         std::to_string(hw[0]) + " x " + std::to_string(hw[1]),
                     "lower --batch, --size or --base");
    SrmdsNet<float, D> fused = net.fused(ctx);
    if constexpr (std::is_same_v<D, Cpu>) fused.set_precision(precision);
    Rng rng(7);
    Tensor<float, Cpu> x(Shape{o.batch, cfg.in_channels, hw[0], hw[1]});
    for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.uniform());
    const ModelStats st_train = model_stats(cfg, NetForm::Train, hw[0], hw[1]);
    const ModelStats st_fused = model_stats(cfg, NetForm::Fused, hw[0], hw[1]);
    std::printf("bench: base %d, %d x %d x %d x %d, device %s, at least %.1f s per form\n", cfg.base, o.batch,
                cfg.in_channels, hw[0], hw[1], D::name, o.seconds);
    if (precision == Precision::Bf16)
      std::printf("bench: fused form in bf16 (%s)\n", cpu::bf16_dot_products_active()
                                                           ? "AVX512_BF16 dot products"
                                                           : "fp32 multiply-adds of bf16 values: no AVX512_BF16 kernel");
    std::fflush(stdout);
    const Throughput t_train = measure_throughput(ctx, net, x, o.seconds);
    net.release_buffers();
    const Throughput t_fused = measure_throughput(ctx, fused, x, o.seconds);
    std::printf("%-14s %14s %10s %12s %10s\n", "form", "parameters", "GMAC/img", "ms/batch", "images/s");
    std::printf("%-14s %14s %10.3f %12.2f %10.2f\n", "training", with_thousands(st_train.params).c_str(),
                static_cast<double>(st_train.macs) / 1e9, t_train.ms_per_batch, t_train.images_per_s);
    std::printf("%-14s %14s %10.3f %12.2f %10.2f\n", precision == Precision::Bf16 ? "fused bf16" : "fused", with_thousands(st_fused.params).c_str(),
                static_cast<double>(st_fused.macs) / 1e9, t_fused.ms_per_batch, t_fused.images_per_s);
    std::printf("fused / training speed: x%.2f\n",
                t_train.images_per_s > 0 ? t_fused.images_per_s / t_train.images_per_s : 0.0);
  });
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* sub = app.add_subcommand("bench", "Inference speed of the training form vs the fused form");
  add_device_option(sub, o->device);
  sub->add_option("--size", o->size, "Input size H or HxW (multiples of 16)")->capture_default_str();
  sub->add_option("--batch", o->batch)->capture_default_str();
  sub->add_option("--base", o->base, "Base width of the random network")->capture_default_str();
  sub->add_option("--seconds", o->seconds, "Minimum timing per form")->capture_default_str();
  sub->add_option("--model", o->model, "Time this training-form weight file instead");
  add_precision_option(sub, o->precision);
  sub->callback([o] { run_bench(*o); });
}

}  // namespace srmds::cli
