// srmds eval --model M --images A[,B..] --masks MA[,MB..] [--batch 8] [--device cpu] [--per-image]:
// metrics of a weight file (either form, or a training checkpoint) on every slice of the given
// pairs (SPEC §4): sensitivity, specificity, precision and Dice, micro and per-image.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "commands.hpp"
#include "inference_errors.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/metrics/table.hpp"
#include "srmds/infer/evaluate.hpp"

namespace srmds::cli {

namespace {

struct EvalOptions {
  std::string model, device = "cpu";
  std::vector<std::string> images, masks;
  int batch = 8;
  bool per_image = false;
};

void run_eval(const EvalOptions& o) {
  if (o.batch < 1 || o.batch > 4096) SRMDS_THROW("eval: --batch must be in [1, 4096], got " << o.batch);
  const std::vector<std::string> images = file_list(o.images, "--images"), masks = file_list(o.masks, "--masks");
  with_device(o.device, [&](auto& ctx) {
    using D = device_of_t<decltype(ctx)>;
    SrmdsNet<float, D> net = io::load_weights<float, D>(ctx, o.model);
    const SliceDataset data(images, masks, SliceDataOptions::from_config(net.config()));
    const MetricsAccumulator acc = naming_inputs(o.model, "eval: evaluating '" + o.model + "'",
                                                 "try a smaller --batch than " + std::to_string(o.batch),
                                                 [&] { return evaluate(ctx, net, data, o.batch); });
    std::printf("model %s (%s form), %lld slices of %zu volumes at %d x %d\n", o.model.c_str(),
                io::form_name(net.form()), static_cast<long long>(data.size()), images.size(),
                net.config().input_size[0], net.config().input_size[1]);
    if (o.per_image) {
      std::printf("%-6s %-5s %9s %9s  %s\n", "slice", "k", "dice", "sens", "image");
      for (int64_t i = 0; i < acc.images(); ++i) {
        const Confusion& c = acc.per_image()[static_cast<size_t>(i)];
        const SliceSource src = data.source(i);
        std::printf("%-6lld %-5lld %8.2f%% %8.2f%%  %s\n", static_cast<long long>(i), static_cast<long long>(src.k),
                    100 * c.dice(), 100 * c.sensitivity(), images[static_cast<size_t>(src.volume)].c_str());
      }
    }
    std::printf("%s", format_metrics_table(acc).c_str());
  });
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand("eval", "Metrics of a model on NIfTI image/mask pairs (micro and per-image)");
  sub->add_option("--model", o->model, "Weight file or training checkpoint (.safetensors)")->required();
  sub->add_option("--images", o->images, "Image volumes, comma-separated (or repeated)")->required();
  sub->add_option("--masks", o->masks, "Mask volumes in the same order")->required();
  sub->add_option("--batch", o->batch)->capture_default_str();
  sub->add_option("--device", o->device)->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  sub->add_flag("--per-image", o->per_image, "Also list each slice's Dice and sensitivity");
  sub->callback([o] { run_eval(*o); });
}

}  // namespace srmds::cli
