// srmds fuse --model IN --out OUT: loads a training-form weight file, fuses every SRFV block into
// one 3x3 convolution (in double, SPEC §2), writes the fused weight file (atomically) and prints the
// largest deviation between the two forms' eval-mode logits z_0 on a random batch.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "usage_error.hpp"
#include "commands.hpp"
#include "validators.hpp"
#include "srmds/infer/output_plan.hpp"
#include "srmds/io/atomic_file.hpp"
#include "size_arg.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/memory_probe.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/nets/srmds_net.hpp"

namespace srmds::cli {

namespace {

struct FuseOptions {
  std::string model;
  std::string out;
  int batch = 2;
  std::string check_size = "64";
  uint64_t seed = 0;
};

void run_fuse(const FuseOptions& o) {
  if (o.batch < 1 || o.batch > 64) SRMDS_USAGE("fuse: --check-batch must be in [1, 64], got " << o.batch);
  const std::array<int, 2> hw = parse_size(o.check_size, "--check-size");
  refuse_same_files({{"--model", o.model}}, {{"--out", o.out}}, [](const std::string& m) { SRMDS_USAGE("fuse: " << m); });
  io::require_replaceable_file(o.out);
  Context<Cpu> ctx;
  SrmdsNet<float, Cpu> net = io::load_weights<float, Cpu>(ctx, o.model);
  if (net.form() != NetForm::Train) SRMDS_THROW("fuse: '" << o.model << "' is already a fused model");
  require_memory(probe_eval_memory(net.config(), NetForm::Train).bytes(o.batch, hw[0], hw[1]) +
                     probe_eval_memory(net.config(), NetForm::Fused).bytes(o.batch, hw[0], hw[1]),
                 "fuse: the check of both forms on " + std::to_string(o.batch) + " images of " + std::to_string(hw[0]) +
                     " x " + std::to_string(hw[1]),
                 "lower --check-batch or --check-size");
  SrmdsNet<float, Cpu> fused = net.fused(ctx);

  // Random batch in [0, 1] (the range of windowed CT images).
  const NetConfig& cfg = net.config();
  Rng rng(o.seed);
  Tensor<float, Cpu> x(Shape{o.batch, cfg.in_channels, hw[0], hw[1]});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.uniform());
  Tensor<float, Cpu> z_train(Shape{o.batch, 1, hw[0], hw[1]}), z_fused(z_train.shape());
  net.forward_eval(ctx, x, z_train);
  fused.forward_eval(ctx, x, z_fused);
  double max_dev = 0, max_ref = 0;
  for (int64_t i = 0; i < z_train.numel(); ++i) {
    const double d = std::abs(static_cast<double>(z_fused[i]) - static_cast<double>(z_train[i]));
    max_dev = std::isnan(d) ? d : std::max(max_dev, d);
    max_ref = std::max(max_ref, std::abs(static_cast<double>(z_train[i])));
  }
  if (!std::isfinite(max_dev))
    SRMDS_THROW("fuse: the outputs of '" << o.model << "' are not finite; nothing written");

  io::save_weights(ctx, o.out, fused);
  const ModelStats st = model_stats(cfg, NetForm::Fused, cfg.input_size[0], cfg.input_size[1]);
  std::printf("fused %s -> %s (%s parameters)\n", o.model.c_str(), o.out.c_str(), with_thousands(st.params).c_str());
  std::printf("max |z0 fused - z0 train| = %.3g (max |z0| = %.3g, relative %.3g) on a random %d x %d x %d x %d batch\n",
              max_dev, max_ref, max_ref > 0 ? max_dev / max_ref : 0.0, o.batch, cfg.in_channels, hw[0], hw[1]);
}

}  // namespace

void add_fuse_command(CLI::App& app) {
  auto opts = std::make_shared<FuseOptions>();
  CLI::App* sub = app.add_subcommand("fuse", "Fuse a training-form weight file into the inference form");
  sub->add_option("--model", opts->model, "Training-form weight file (.safetensors)")->required();
  sub->add_option("--out", opts->out, "Fused weight file to write")->required();
  sub->add_option("--check-batch", opts->batch, "Images in the random comparison batch")->capture_default_str();
  sub->add_option("--check-size", opts->check_size, "Size H or HxW of the comparison images")->capture_default_str();
  sub->add_option("--seed", opts->seed, "Seed of the comparison batch")->check(seed_value())->capture_default_str();
  sub->callback([opts] { run_fuse(*opts); });
}

}  // namespace srmds::cli
