// srmds train --images A[,B..] --masks MA[,MB..] --out ckpt.safetensors [options]: trains the
// training form (SPEC §5) with a validation split by volume. Images are NIfTI volumes, DICOM
// series (folders) or PNG/JPEG slices; a folder of slices pairs by file stem with a mask folder. After every epoch the checkpoint
// --out (weights, BN statistics, optimizer moments, step, epoch) is written atomically, and the
// best validation epoch's weights go to <out stem>.best.safetensors. --resume continues a run
// exactly; its network configuration is the checkpoint's, changed only by options given here
// (which must then match, or the resume is refused).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "commands.hpp"
#include "size_arg.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/train/report.hpp"
#include "srmds/train/train_data.hpp"
#include "srmds/train/trainer.hpp"

namespace srmds::cli {

namespace {

struct TrainCliOptions {
  std::vector<std::string> images, masks;
  std::string out, resume, device = "cpu";
  int epochs = 300, batch = 8, base = 64, log_every = 10;
  double lr = 5e-4, val_fraction = 0.2, warmup_epochs = 2, weight_decay = 0;
  uint64_t seed = 0;
  bool decoupled = false, no_flip = false, png16_hu = false;
  std::string series;
  std::string size = "512", ds = "native", target = "avg", branches = "3x3,1x3,3x1,1x1,id", bn = "inner",
              attention = "se", window = "-1250,250", labels = "1,2";
};

// "<dir>/ckpt.safetensors" -> "<dir>/ckpt.best.safetensors".
std::string best_path_for(const std::string& out) {
  const std::string ext = ".safetensors";
  if (out.size() > ext.size() && out.compare(out.size() - ext.size(), ext.size(), ext) == 0)
    return out.substr(0, out.size() - ext.size()) + ".best" + ext;
  return out + ".best.safetensors";
}

NetConfig make_config(const TrainCliOptions& o, const CLI::App& sub) {
  NetConfig cfg;
  if (!o.resume.empty()) cfg = io::read_weights_info(io::read_safetensors(o.resume), o.resume).config;
  const bool resuming = !o.resume.empty();
  auto given = [&](const char* name) { return !resuming || sub.count(name) > 0; };
  if (given("--base")) {
    if (o.base < 1 || o.base > 4096) SRMDS_THROW("train: --base must be in [1, 4096], got " << o.base);
    cfg.base = o.base;
  }
  if (given("--size")) cfg.input_size = parse_size(o.size, "--size");
  if (given("--branches")) cfg.branches = split_list(o.branches);
  if (given("--bn")) cfg.bn = o.bn == "external" ? BnPlacement::External : BnPlacement::Inner;
  if (given("--attention")) cfg.attention = o.attention == "none" ? Attention::None : Attention::Se;
  if (given("--window")) cfg.window = parse_window(o.window);
  if (given("--labels")) cfg.lesion_labels = parse_labels(o.labels);
  config_from_json(config_to_json(cfg));  // validates the branch names and the rest
  return cfg;
}

DeepSupervisionOptions loss_options(const TrainCliOptions& o) {
  DeepSupervisionOptions l;
  l.ds = o.ds == "off" ? DsMode::Off : o.ds == "upsample" ? DsMode::Upsample : DsMode::Native;
  l.target = o.target == "nearest" ? TargetMode::Nearest : o.target == "max" ? TargetMode::Max : TargetMode::Average;
  return l;
}

void run_train(const TrainCliOptions& o, const CLI::App& sub) {
  if (o.epochs < 1 || o.epochs > 1000000) SRMDS_THROW("train: --epochs must be in [1, 1000000], got " << o.epochs);
  if (o.batch < 1 || o.batch > 4096) SRMDS_THROW("train: --batch must be in [1, 4096], got " << o.batch);
  if (!(o.lr > 0) || !(o.lr < 10)) SRMDS_THROW("train: --lr must be in (0, 10), got " << o.lr);
  if (!(o.val_fraction >= 0 && o.val_fraction < 1))
    SRMDS_THROW("train: --val-fraction must be in [0, 1), got " << o.val_fraction);
  if (!(o.warmup_epochs >= 0)) SRMDS_THROW("train: --warmup-epochs must be >= 0, got " << o.warmup_epochs);
  if (!(o.weight_decay >= 0)) SRMDS_THROW("train: --weight-decay must be >= 0, got " << o.weight_decay);
  if (o.log_every < 1) SRMDS_THROW("train: --log-every must be positive, got " << o.log_every);
  require_output_path(o.out, "--out");
  std::vector<std::string> images, masks;
  for (const InputPair& p : input_pairs(o.images, o.masks)) {
    images.push_back(p.image);
    masks.push_back(p.mask);
  }
  const NetConfig cfg = make_config(o, sub);
  SliceDataOptions data_options = SliceDataOptions::from_config(cfg);
  data_options.input.dicom_series = o.series;
  data_options.input.png16_hu = o.png16_hu;
  if (sub.count("--labels") > 0) data_options.image_mask_labels = cfg.lesion_labels;

  with_device(o.device, [&](auto& ctx) {
    using D = device_of_t<decltype(ctx)>;
    TrainData data = load_train_data(images, masks, data_options, o.val_fraction, o.seed, !o.no_flip);
    print_warnings(data.train.warnings());
    SrmdsNet<float, D> net(ctx, cfg, NetForm::Train, o.seed);
    TrainOptions to;
    to.epochs = o.epochs;
    to.batch = o.batch;
    to.lr = o.lr;
    to.warmup_epochs = o.warmup_epochs;
    to.weight_decay = o.weight_decay;
    to.decoupled_weight_decay = o.decoupled;
    to.loss = loss_options(o);
    to.loss.align_corners = cfg.align_corners;
    to.checkpoint_path = o.out;
    to.best_path = best_path_for(o.out);
    to.log_every = o.log_every;
    Trainer<float, D> trainer(ctx, net, to);
    if (!o.resume.empty()) {
      trainer.resume(o.resume);
      std::printf("resumed %s at epoch %d, step %lld\n", o.resume.c_str(), trainer.epoch() + 1,
                  static_cast<long long>(trainer.step()));
    }
    const ModelStats st = model_stats(cfg, NetForm::Train, cfg.input_size[0], cfg.input_size[1]);
    std::printf("training %s parameters on %lld slices (%lld validation), %d x %d, batch %d, %d epochs, device %s\n",
                with_thousands(st.params).c_str(), static_cast<long long>(data.train.size()),
                static_cast<long long>(data.val.size()), cfg.input_size[0], cfg.input_size[1], o.batch, o.epochs,
                D::name);
    std::fflush(stdout);
    trainer.on_progress = [](const TrainProgress& p) {
      std::printf("%s\n", format_progress(p).c_str());
      std::fflush(stdout);
    };
    trainer.on_epoch = [&](const EpochReport& r) {
      std::printf("%s\n", format_epoch(r, o.epochs).c_str());
      std::fflush(stdout);
    };
    trainer.fit(data.train, data.val.size() > 0 ? &data.val : nullptr);
    std::printf("checkpoint: %s\nbest weights: %s\n", o.out.c_str(), to.best_path.c_str());
  });
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* sub = app.add_subcommand("train", "Train SR&MDS-Net on image/mask pairs (NIfTI, DICOM, PNG/JPEG)");
  sub->add_option("--images", o->images,
                  "Images, comma-separated (or repeated): NIfTI files, DICOM series folders, PNG/JPEG slices, "
                  "or folders of slices")
      ->required();
  sub->add_option("--masks", o->masks, "Masks in the same order (a mask folder for a folder of slices)")->required();
  sub->add_option("--series", o->series, "SeriesInstanceUID to read from a DICOM folder holding several series");
  sub->add_flag("--png16-hu", o->png16_hu, "16-bit PNG slices hold HU + 32768 (else min-max per slice)");
  sub->add_option("--out", o->out, "Checkpoint written after every epoch (.safetensors)")->required();
  sub->add_option("--resume", o->resume, "Checkpoint to continue from");
  sub->add_option("--epochs", o->epochs)->capture_default_str();
  sub->add_option("--batch", o->batch)->capture_default_str();
  sub->add_option("--lr", o->lr, "Peak learning rate")->capture_default_str();
  sub->add_option("--size", o->size, "Model input size H or HxW (multiples of 16)")->capture_default_str();
  sub->add_option("--base", o->base, "Base width b")->capture_default_str();
  sub->add_option("--device", o->device)->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  sub->add_option("--val-fraction", o->val_fraction, "Fraction of the volumes used for validation")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Seed of the initialisation, split, shuffling and flips")->capture_default_str();
  sub->add_option("--warmup-epochs", o->warmup_epochs)->capture_default_str();
  sub->add_option("--weight-decay", o->weight_decay)->capture_default_str();
  sub->add_flag("--decoupled", o->decoupled, "Decoupled weight decay (AdamW)");
  sub->add_flag("--no-flip", o->no_flip, "No random horizontal flips");
  sub->add_option("--ds", o->ds, "Deep supervision")->check(CLI::IsMember({"native", "upsample", "off"}))
      ->capture_default_str();
  sub->add_option("--target", o->target, "Coarse targets")->check(CLI::IsMember({"avg", "nearest", "max"}))
      ->capture_default_str();
  sub->add_option("--branches", o->branches, "SRFV branches, comma-separated")->capture_default_str();
  sub->add_option("--bn", o->bn)->check(CLI::IsMember({"inner", "external"}))->capture_default_str();
  sub->add_option("--attention", o->attention)->check(CLI::IsMember({"se", "none"}))->capture_default_str();
  sub->add_option("--window", o->window, "HU window lo,hi or none (per-volume min-max)")->capture_default_str();
  sub->add_option("--labels", o->labels,
                  "Lesion labels, comma-separated, or any (mask images: any pixel > 0 unless given)")
      ->capture_default_str();
  sub->add_option("--log-every", o->log_every, "Progress line every this many steps")->capture_default_str();
  sub->callback([o, sub] { run_train(*o, *sub); });
}

}  // namespace srmds::cli
