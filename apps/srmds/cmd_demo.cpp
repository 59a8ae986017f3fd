// srmds demo [--quick] [--device cpu|cuda] [--out DIR] [--seed S] [overrides]: the end-to-end
// demonstration (demo.hpp): phantoms, training, held-out evaluation, fusion and its
// deviation, speed of both forms, PNG overlays and a summary table. --quick is the small
// configuration meant to finish in a few minutes on two CPU cores.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "cli_util.hpp"
#include "commands.hpp"
#include "demo.hpp"

namespace srmds::cli {

namespace {

struct DemoCliOptions {
  bool quick = false;
  std::string device = "cpu", out = "srmds-demo";
  uint64_t seed = 1;
  int epochs = 0, size = 0, base = 0, train_volumes = 0, log_every = 0;
  double lr = 0;
};

void run_demo_command(const DemoCliOptions& c, const CLI::App& sub) {
  DemoOptions o = c.quick ? DemoOptions::quick() : DemoOptions{};
  o.out_dir = c.out;
  o.seed = c.seed;
  if (sub.count("--epochs")) {
    if (c.epochs < 1 || c.epochs > 100000) SRMDS_THROW("demo: --epochs must be in [1, 100000], got " << c.epochs);
    o.train.epochs = c.epochs;
  }
  if (sub.count("--size")) {
    if (c.size < 16 || c.size > 2048 || c.size % 16 != 0)
      SRMDS_THROW("demo: --size must be a multiple of 16 in [16, 2048], got " << c.size);
    o.net.input_size = {c.size, c.size};
  }
  if (sub.count("--base")) {
    if (c.base < 1 || c.base > 256) SRMDS_THROW("demo: --base must be in [1, 256], got " << c.base);
    o.net.base = c.base;
  }
  if (sub.count("--train-volumes")) {
    if (c.train_volumes < 2 || c.train_volumes > 10000)
      SRMDS_THROW("demo: --train-volumes must be in [2, 10000], got " << c.train_volumes);
    o.train_volumes = c.train_volumes;
  }
  if (sub.count("--lr")) {
    if (!(c.lr > 0 && c.lr < 10)) SRMDS_THROW("demo: --lr must be in (0, 10), got " << c.lr);
    o.train.optimizer.lr = c.lr;
  }
  if (c.log_every < 0) SRMDS_THROW("demo: --log-every must be >= 0, got " << c.log_every);
  o.train.log_every = c.log_every;
  std::cout << "srmds demo" << (c.quick ? " --quick" : "") << ": output in " << o.out_dir << std::endl;
  with_device(c.device, [&](auto& ctx) {
    using D = device_of_t<decltype(ctx)>;
    const DemoReport r = run_demo<float, D>(ctx, o, std::cout);
    std::cout << "\nheld-out metrics, training form:\n" << format_metrics_table(r.test_train_form)
              << "\nheld-out metrics, fused form:\n" << format_metrics_table(r.test_fused_form) << "\n"
              << format_demo_summary(r) << std::flush;
  });
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto o = std::make_shared<DemoCliOptions>();
  CLI::App* sub = app.add_subcommand("demo", "Phantoms -> training -> held-out evaluation -> fusion -> speed -> overlays");
  sub->add_flag("--quick", o->quick, "Small configuration (64 x 64, base 8; a few minutes on two CPU cores)");
  sub->add_option("--device", o->device)->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  sub->add_option("--out", o->out, "Output folder")->capture_default_str();
  sub->add_option("--seed", o->seed)->capture_default_str();
  sub->add_option("--epochs", o->epochs, "Override the number of epochs");
  sub->add_option("--size", o->size, "Override the image size");
  sub->add_option("--base", o->base, "Override the base width");
  sub->add_option("--train-volumes", o->train_volumes, "Override the number of training volumes");
  sub->add_option("--lr", o->lr, "Override the learning rate");
  sub->add_option("--log-every", o->log_every, "Progress line every this many steps (0: per epoch)")
      ->capture_default_str();
  sub->callback([o, sub] { run_demo_command(*o, *sub); });
}

}  // namespace srmds::cli
