// srmds demo [--quick] [--device cpu|cuda] [--out DIR] [--seed S] [overrides]: the end-to-end
// demonstration (SPEC §8), with a summary table at the end; --quick is the small configuration
// meant to finish in a few minutes on two CPU cores. Step by step:
//   1. phantoms: training volumes and held-out volumes (other seeds) written as NIfTI pairs;
//   2. training of the training form (Trainer: Adam, warm-up + cosine, deep supervision), with a
//      validation split of the training volumes choosing the best epoch;
//   3. evaluation of the best weights on the held-out phantoms (micro and per-image metrics);
//   4. fusion into the inference form, its held-out metrics and the largest |z_0 fused - z_0 train|
//      over every held-out slice;
//   5. speed of both forms (eval-mode forward, images/s);
//   6. PNG overlays of held-out slices (red: fused-form prediction, green: ground truth).
// Files under out_dir: data/train/, data/test/ (phantoms), model.ckpt.safetensors (checkpoint),
// model.best.safetensors, model.fused.safetensors, png/heldout_NN.png. Progress goes to `log`.
// Built on the library's public API only.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "commands.hpp"
#include "shared_options.hpp"
#include "report.hpp"
#include "usage_error.hpp"
#include "validators.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/infer/evaluate.hpp"
#include "srmds/infer/segment.hpp"
#include "srmds/infer/throughput.hpp"
#include "srmds/io/png.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/metrics/table.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/ops/transfer.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"

namespace srmds::cli {

// The options of a demo run. The network and the training run are a NetConfig and TrainOptions
// themselves (embedded, not copied field by field), so every network option (align_corners
// included) reaches training, evaluation and fusion alike. The phantoms are net.input_size square.
// The full demo (the defaults) took 329 s on two shared CPU cores for a held-out Dice of 0.976;
// the quick one about 30-60 s for 0.92 (seed 1).
struct DemoOptions {
  std::string out_dir = "srmds-demo";
  uint64_t seed = 1;
  NetConfig net = default_net();       // base 16, 128 x 128
  TrainOptions train = default_train();  // 20 epochs, batch 4, lr 3e-3; log_every 0: epoch lines only
  int train_volumes = 48;      // training phantoms (validation volumes are taken from these)
  int test_volumes = 12;       // held-out phantoms
  int slices_per_volume = 4;
  double val_fraction = 0.125;
  int png_count = 8;
  double bench_seconds = 3;    // minimum timing per form

  int size() const { return net.input_size[0]; }

  static NetConfig default_net() {
    NetConfig c;
    c.base = 16;
    c.input_size = {128, 128};
    return c;
  }
  static TrainOptions default_train() {
    TrainOptions t;
    t.epochs = 20;
    t.batch = 4;
    t.optimizer.lr = 3e-3;
    t.warmup_epochs = 1;
    t.log_every = 0;
    return t;
  }

  // The configuration of `srmds demo --quick` (a few minutes at most on two CPU cores).
  static DemoOptions quick() {
    // Measured (srmds demo --quick, seeds 1, 2, 3): held-out Dice 0.92, 0.88, 0.90 after about
    // 30 s on two CPU cores; batch 4 converges faster than batch 8 for the same compute.
    DemoOptions o;
    o.net.input_size = {64, 64};
    o.net.base = 8;
    o.train_volumes = 32;
    o.test_volumes = 8;
    o.slices_per_volume = 4;
    o.train.epochs = 18;
    o.train.batch = 4;
    o.train.optimizer.lr = 5e-3;
    o.train.warmup_epochs = 1;
    o.val_fraction = 0.125;
    o.png_count = 6;
    o.bench_seconds = 1.5;
    return o;
  }
};

struct DemoReport {
  NetConfig config;
  int64_t train_slices = 0, val_slices = 0, test_slices = 0;
  double train_seconds = 0, final_train_loss = 0;
  int best_epoch = -1;  // 0-based, -1 when there was no validation set (the last epoch is used)
  double best_val_dice = 0;
  MetricsAccumulator test_train_form, test_fused_form;  // held-out metrics
  double max_deviation = 0, max_abs_logit = 0;          // over every held-out pixel
  Throughput speed_train_form, speed_fused_form;
  ModelStats stats_train_form, stats_fused_form;
  std::string checkpoint, best_weights, fused_weights, png_dir;
  std::vector<std::string> pngs;
  double total_seconds = 0;
};

namespace detail {

// Largest |z_0(a) - z_0(b)| and largest |z_0(a)| over every slice of `data`.
template <class T, class D>
std::pair<double, double> max_logit_deviation(Context<D>& ctx, SrmdsNet<T, D>& a, SrmdsNet<T, D>& b,
                                              const SliceDataset& data, int batch) {
  double dev = 0, ref = 0;
  for (int64_t k = 0; k < data.num_batches(batch); ++k) {
    const SliceBatch hb = data.batch(k, batch);
    const Tensor<T, D> x = device_view_as<T>(ctx, hb.images);
    const Shape zs{x.shape().n(), 1, x.shape().h(), x.shape().w()};
    Tensor<T, D> za(zs, ctx), zb(zs, ctx);
    a.forward_eval(ctx, x, za);
    b.forward_eval(ctx, x, zb);
    const Tensor<T, Cpu> ha = host_view(ctx, za), hb2 = host_view(ctx, zb);
    for (int64_t i = 0; i < ha.numel(); ++i) {
      const double d = std::abs(static_cast<double>(ha[i]) - static_cast<double>(hb2[i]));
      if (!(d <= dev)) dev = d;  // NaN propagates
      ref = std::max(ref, std::abs(static_cast<double>(ha[i])));
    }
  }
  return {dev, ref};
}

inline std::vector<std::string> phantom_field(const std::vector<PhantomFiles>& files, bool image) {
  std::vector<std::string> out;
  for (const PhantomFiles& f : files) out.push_back(image ? f.image : f.mask);
  return out;
}

}  // namespace detail

template <class T, class D>
DemoReport run_demo(Context<D>& ctx, const DemoOptions& o, std::ostream& log) {
  namespace fs = std::filesystem;
  const int size = o.size();
  SRMDS_CHECK(o.net.input_size[0] == o.net.input_size[1],
              "demo: the phantoms are square; input size " << o.net.input_size[0] << " x " << o.net.input_size[1]);
  SRMDS_CHECK(size >= 16 && size % 16 == 0, "demo: size " << size << " must be a positive multiple of 16");
  SRMDS_CHECK(o.train_volumes >= 2 && o.test_volumes >= 1 && o.slices_per_volume >= 1,
              "demo: needs at least 2 training volumes, 1 held-out volume and 1 slice per volume");
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path out(o.out_dir);
  DemoReport r;

  // 1. Phantoms.
  const uint64_t test_seed = o.seed ^ 0x5EED0F7E57ull;  // held-out slices come from other seeds
  log << "[1/6] phantoms: " << o.train_volumes << " training + " << o.test_volumes << " held-out volumes of "
      << o.slices_per_volume << " slices, " << size << " x " << size << " -> " << (out / "data").string()
      << std::endl;
  const auto train_files =
      write_phantom_dataset((out / "data" / "train").string(), o.train_volumes, size, o.seed, o.slices_per_volume);
  const auto test_files =
      write_phantom_dataset((out / "data" / "test").string(), o.test_volumes, size, test_seed, o.slices_per_volume);

  // 2. Training.
  const NetConfig& cfg = o.net;
  r.config = cfg;
  TrainData data = load_train_data(detail::phantom_field(train_files, true), detail::phantom_field(train_files, false),
                                   cfg, o.val_fraction, o.seed, /*random_flip=*/true);
  const SliceDataset test(detail::phantom_field(test_files, true), detail::phantom_field(test_files, false),
                          SliceDataOptions::from_config(cfg));
  r.train_slices = data.train.size();
  r.val_slices = data.val.size();
  r.test_slices = test.size();
  r.checkpoint = (out / "model.ckpt.safetensors").string();
  r.best_weights = (out / "model.best.safetensors").string();
  r.fused_weights = (out / "model.fused.safetensors").string();
  r.stats_train_form = model_stats(cfg, NetForm::Train, size, size);
  r.stats_fused_form = model_stats(cfg, NetForm::Fused, size, size);
  log << "[2/6] training: base " << cfg.base << " (" << with_thousands(r.stats_train_form.params)
      << " parameters), " << r.train_slices << " training / " << r.val_slices << " validation slices, "
      << o.train.epochs << " epochs, batch " << o.train.batch << ", lr " << o.train.optimizer.lr << ", device "
      << D::name << std::endl;
  const int batch = o.train.batch;
  SrmdsNet<T, D> net(ctx, cfg, NetForm::Train, o.seed);
  {
    TrainOptions to = o.train;
    to.checkpoint_path = r.checkpoint;
    to.best_path = r.best_weights;
    Trainer<T, D> trainer(ctx, net, to);
    if (to.log_every > 0) trainer.on_progress = [&log](const TrainProgress& p) { log << "  " << format_progress(p) << std::endl; };
    trainer.on_epoch = [&](const EpochReport& e) {
      log << "  " << format_epoch(e, to.epochs) << std::endl;
      if (e.best) {
        r.best_epoch = e.epoch;
        r.best_val_dice = e.val_micro.dice;
      }
      r.final_train_loss = e.train_loss;
    };
    const auto ts = std::chrono::steady_clock::now();
    trainer.fit(data.train, data.val.size() > 0 ? &data.val : nullptr);
    r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
  }
  // The best validation epoch's weights (the latest when there was no validation set).
  net = io::load_weights<T, D>(ctx, r.best_weights);

  // 3. Held-out evaluation of the training form.
  log << "[3/6] held-out evaluation (" << r.test_slices << " slices)" << std::endl;
  r.test_train_form = evaluate(ctx, net, test, batch);

  // 4. Fusion.
  SrmdsNet<T, D> fused = net.fused(ctx);
  r.test_fused_form = evaluate(ctx, fused, test, batch);
  const auto dev = detail::max_logit_deviation(ctx, net, fused, test, batch);
  r.max_deviation = dev.first;
  r.max_abs_logit = dev.second;
  io::save_weights(ctx, r.fused_weights, fused);
  log << "[4/6] fused: max |z0 fused - z0 train| = " << r.max_deviation << " over " << r.test_slices
      << " held-out slices (max |z0| " << r.max_abs_logit << ") -> " << r.fused_weights << std::endl;

  // 5. Speed of both forms on one batch of held-out slices.
  {
    const SliceBatch hb = test.batch(0, batch);
    log << "[5/6] speed: eval-mode forward, batch " << hb.images.shape().n() << ", at least " << o.bench_seconds
        << " s per form" << std::endl;
    net.release_buffers();
    r.speed_train_form = measure_throughput(ctx, net, hb.images, o.bench_seconds);
    r.speed_fused_form = measure_throughput(ctx, fused, hb.images, o.bench_seconds);
  }

  // 6. PNG overlays of the first held-out slices.
  r.png_dir = (out / "png").string();
  fs::create_directories(r.png_dir);
  {
    const int64_t n = std::min<int64_t>(o.png_count, test.size());
    const int64_t hw = static_cast<int64_t>(size) * size;
    Tensor<float, Cpu> x(Shape{n, 1, size, size});
    for (int64_t i = 0; i < n; ++i) std::copy(test.image(i), test.image(i) + hw, x.data() + i * hw);
    const Tensor<float, Cpu> p = predict_probability(ctx, fused, x, batch);
    const int scale = std::max(1, 256 / size);
    std::vector<uint8_t> pred(static_cast<size_t>(hw));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < hw; ++j) pred[static_cast<size_t>(j)] = p[i * hw + j] >= 0.5f ? 1 : 0;
      char name[48];
      std::snprintf(name, sizeof name, "heldout_%02lld.png", static_cast<long long>(i));
      const std::string path = (fs::path(r.png_dir) / name).string();
      io::write_overlay_png(path, test.image(i), size, size, pred.data(), test.mask(i), scale);
      r.pngs.push_back(path);
    }
  }
  log << "[6/6] overlays: " << r.pngs.size() << " PNG files in " << r.png_dir << " (red: prediction, green: truth)"
      << std::endl;
  r.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

// The summary table printed at the end of the demo.
inline std::string format_demo_summary(const DemoReport& r) {
  const MetricValues tm = r.test_train_form.micro(), tp = r.test_train_form.per_image_mean();
  const MetricValues fm = r.test_fused_form.micro(), fp = r.test_fused_form.per_image_mean();
  char buf[2048];
  std::snprintf(
      buf, sizeof buf,
      "summary (held-out phantoms: %lld slices of %d x %d)\n"
      "                          training form      fused form\n"
      "parameters             %16s  %14s\n"
      "GMAC per image         %16.3f  %14.3f\n"
      "dice (micro)           %14.2f %%  %12.2f %%\n"
      "dice (per-image)       %14.2f %%  %12.2f %%\n"
      "sensitivity (micro)    %14.2f %%  %12.2f %%\n"
      "specificity (micro)    %14.2f %%  %12.2f %%\n"
      "precision (micro)      %14.2f %%  %12.2f %%\n"
      "images/s (batch %2d)    %16.1f  %14.1f   (x%.2f)\n"
      "max |z0 fused - z0 train| = %.3g (max |z0| = %.3g)\n"
      "training: %.1f s (best validation epoch %d, dice %.2f %%); total %.1f s\n",
      static_cast<long long>(r.test_slices), r.config.input_size[0], r.config.input_size[1],
      with_thousands(r.stats_train_form.params).c_str(), with_thousands(r.stats_fused_form.params).c_str(),
      static_cast<double>(r.stats_train_form.macs) / 1e9, static_cast<double>(r.stats_fused_form.macs) / 1e9,
      100 * tm.dice, 100 * fm.dice, 100 * tp.dice, 100 * fp.dice, 100 * tm.sensitivity, 100 * fm.sensitivity,
      100 * tm.specificity, 100 * fm.specificity, 100 * tm.precision, 100 * fm.precision, r.speed_train_form.batch,
      r.speed_train_form.images_per_s, r.speed_fused_form.images_per_s,
      r.speed_train_form.images_per_s > 0 ? r.speed_fused_form.images_per_s / r.speed_train_form.images_per_s : 0.0,
      r.max_deviation, r.max_abs_logit, r.train_seconds, r.best_epoch + 1, 100 * r.best_val_dice, r.total_seconds);
  return buf;
}


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
    if (c.epochs < 1 || c.epochs > 100000) SRMDS_USAGE("demo: --epochs must be in [1, 100000], got " << c.epochs);
    o.train.epochs = c.epochs;
  }
  if (sub.count("--size")) {
    if (c.size < 16 || c.size > 2048 || c.size % 16 != 0)
      SRMDS_USAGE("demo: --size must be a multiple of 16 in [16, 2048], got " << c.size);
    o.net.input_size = {c.size, c.size};
  }
  if (sub.count("--base")) {
    if (c.base < 1 || c.base > 256) SRMDS_USAGE("demo: --base must be in [1, 256], got " << c.base);
    o.net.base = c.base;
  }
  if (sub.count("--train-volumes")) {
    if (c.train_volumes < 2 || c.train_volumes > 10000)
      SRMDS_USAGE("demo: --train-volumes must be in [2, 10000], got " << c.train_volumes);
    o.train_volumes = c.train_volumes;
  }
  if (sub.count("--lr")) {
    if (!(c.lr > 0 && c.lr < 10)) SRMDS_USAGE("demo: --lr must be in (0, 10), got " << c.lr);
    o.train.optimizer.lr = c.lr;
  }
  if (c.log_every < 0) SRMDS_USAGE("demo: --log-every must be >= 0, got " << c.log_every);
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
  add_device_option(sub, o->device);
  sub->add_option("--out", o->out, "Output folder")->capture_default_str();
  sub->add_option("--seed", o->seed)->check(seed_value())->capture_default_str();
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
