// srmds eval --model M --images A[,B..] --masks MA[,MB..] [--batch 8] [--device cpu] [--per-image]
// [--png-dir D] [--precision fp32|bf16]: metrics of a weight file (either form, or a training checkpoint) on every slice of
// the given pairs (SPEC §4): sensitivity, specificity, precision and Dice, micro and per-image, and
// the Inf-Net metrics of the literature (Dice@0.5, meanDic, maxDic, meanSen, meanSpe, meanPre; per
// slice at model size, metrics/inf_net.hpp); --json FILE writes all of them. Several --model files
// are an ensemble: the figures of their mean probability (infer/ensemble.hpp).
// Images are NIfTI volumes, DICOM series or PNG/JPEG slices (a folder of slices pairs by file stem
// with a mask folder). --png-dir writes one overlay per slice at model size (red outline: the
// prediction, green: the mask, yellow where they meet). --precision bf16 (CPU) evaluates the fused
// form with its 3x3 convolutions in bf16 (a training-form file is fused first; nets/precision.hpp).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "usage_error.hpp"
#include "cli_util.hpp"
#include "commands.hpp"
#include "shared_options.hpp"
#include "inference_errors.hpp"
#include "load_models.hpp"
#include "srmds/infer/output_plan.hpp"
#include "srmds/infer/evaluate.hpp"
#include "srmds/infer/segment.hpp"
#include "srmds/io/atomic_file.hpp"
#include "srmds/io/png.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/metrics/table.hpp"

namespace srmds::cli {

namespace {

struct EvalOptions {
  std::vector<std::string> models;
  std::string device = "cpu", series, labels, png_dir, precision = "fp32", json;
  std::vector<std::string> images, masks;
  int batch = 8;
  bool per_image = false, png16_hu = false, tta = false;
};

// The file stem of an input: its name less .nii.gz, .nii, .png, .jpg or .jpeg.
std::string input_stem(const std::string& path) {
  std::string stem = std::filesystem::path(path).filename().string();
  for (const char* ext : {".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG"}) {
    const std::string e(ext);
    if (stem.size() > e.size() && stem.compare(stem.size() - e.size(), e.size(), e) == 0) {
      stem.resize(stem.size() - e.size());
      break;
    }
  }
  return stem;
}

// The overlay file of every slice i: <stem>_<k>.png in `dir` (k: the slice in its volume); inputs
// that share a stem (p1/scan.nii.gz, p2/scan.nii.gz) are told apart as <stem>-1, <stem>-2, ... in
// the order given.
std::vector<std::string> overlay_names(const SliceDataset& data, const std::string& dir) {
  const std::vector<std::string>& paths = data.image_paths();
  std::map<std::string, int> count, seen;
  for (const std::string& p : paths) ++count[input_stem(p)];
  std::vector<std::string> stems;
  for (const std::string& p : paths) {
    const std::string stem = input_stem(p);
    stems.push_back(count[stem] > 1 ? stem + "-" + std::to_string(++seen[stem]) : stem);
  }
  std::vector<std::string> out;
  for (int64_t i = 0; i < data.size(); ++i) {
    const SliceSource src = data.source(i);
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "_%04lld.png", static_cast<long long>(src.k));
    out.push_back((std::filesystem::path(dir) / (stems[static_cast<size_t>(src.volume)] + suffix)).string());
  }
  return out;
}

// Overlays of every slice (names[i] for slice i): the prediction (p >= 0.5, of the figures: with
// --tta the flip average, for an ensemble the members' mean) and the mask, at model size.
template <class C, class N>
int64_t write_overlays(C& ctx, N& net, const SliceDataset& data, int batch, const std::vector<std::string>& names,
                       bool tta) {
  const int H = data.height(), W = data.width();
  const int64_t hw = static_cast<int64_t>(H) * W;
  int64_t written = 0;
  for (int64_t b = 0; b < data.num_batches(batch); ++b) {
    const SliceBatch hb = data.batch(b, batch);
    const Tensor<float, Cpu> p = predict_probability(ctx, net, hb.images, batch, tta);
    for (int64_t s = 0; s < hb.images.shape().n(); ++s) {
      const int64_t i = hb.indices[static_cast<size_t>(s)];
      std::vector<uint8_t> pred(static_cast<size_t>(hw)), truth(static_cast<size_t>(hw));
      for (int64_t q = 0; q < hw; ++q) {
        pred[static_cast<size_t>(q)] = p[s * hw + q] >= 0.5f ? 1 : 0;
        truth[static_cast<size_t>(q)] = hb.masks[s * hw + q] != 0.0f ? 1 : 0;
      }
      io::write_overlay_png(names[static_cast<size_t>(i)], hb.images.sample(s), H, W, pred.data(), truth.data());
      ++written;
    }
  }
  return written;
}

nlohmann::json values_json(const MetricValues& v) {
  return {{"sensitivity", v.sensitivity}, {"specificity", v.specificity}, {"precision", v.precision}, {"dice", v.dice}};
}

// Every figure of the tables, as fractions (NaN, for an empty set, as null).
std::string metrics_json(const MetricsAccumulator& acc, const InfNetValues& v) {
  const Confusion& c = acc.pooled();
  nlohmann::json j = {{"slices", acc.images()},
                      {"micro", values_json(acc.micro())},
                      {"per_image", values_json(acc.per_image_mean())},
                      {"counts", {{"tp", c.tp}, {"fp", c.fp}, {"tn", c.tn}, {"fn", c.fn}}},
                      {"inf_net",
                       {{"dice_at_half", v.dice_at_half},
                        {"mean_dice", v.mean_dice},
                        {"max_dice", v.max_dice},
                        {"mean_sensitivity", v.mean_sensitivity},
                        {"max_sensitivity", v.max_sensitivity},
                        {"mean_specificity", v.mean_specificity},
                        {"max_specificity", v.max_specificity},
                        {"mean_precision", v.mean_precision},
                        {"max_precision", v.max_precision}}}};
  return j.dump(2);
}

void run_eval(const EvalOptions& o) {
  if (o.batch < 1 || o.batch > 4096) SRMDS_USAGE("eval: --batch must be in [1, 4096], got " << o.batch);
  const Precision precision = parse_precision(o.precision);
  if (precision == Precision::Bf16 && o.device != "cpu")
    SRMDS_USAGE("eval: --precision bf16 runs on the CPU only (--device cpu)");
  std::vector<std::string> images, masks;
  for (const InputPair& p : input_pairs(o.images, o.masks)) {
    images.push_back(p.image);
    masks.push_back(p.mask);
  }
  if (!o.png_dir.empty() && std::filesystem::exists(o.png_dir) && !std::filesystem::is_directory(o.png_dir))
    SRMDS_USAGE("--png-dir: '" << o.png_dir << "' is not a folder");
  if (!o.json.empty()) require_output_path(o.json, "--json");
  const std::vector<std::string> models = file_list(o.models, "--model");
  std::vector<NamedFile> inputs;  // the items given (folders too) and their files
  for (const std::string& m : models) inputs.push_back({"--model", m});
  for (const std::string& in : file_list(o.images, "--images")) inputs.push_back({"--images", in});
  for (const std::string& in : file_list(o.masks, "--masks")) inputs.push_back({"--masks", in});
  for (const std::string& in : images) inputs.push_back({"--images", in});
  for (const std::string& in : masks) inputs.push_back({"--masks", in});
  const std::vector<NamedFile> named_outputs{{"--json", o.json}, {"--png-dir", o.png_dir}};
  const auto usage = [](const std::string& m) { SRMDS_USAGE("eval: " << m); };
  refuse_same_files(inputs, named_outputs, usage);
  if (!o.json.empty()) io::require_replaceable_file(o.json);
  with_device(o.device, [&](auto& ctx) {
    using D = device_of_t<decltype(ctx)>;
    std::vector<SrmdsNet<float, D>> nets = load_models(ctx, models, precision);
    const NetConfig& config = nets.front().config();
    const std::string names = join_names(models);
    SliceDataOptions d = SliceDataOptions::from_config(config);
    d.input.dicom_series = o.series;
    d.input.png16_hu = o.png16_hu;
    if (!o.labels.empty()) d.lesion_labels = d.image_mask_labels = parse_labels(o.labels);
    const SliceDataset data(images, masks, d);
    print_warnings(data.warnings());
    std::vector<std::string> overlays;
    if (!o.png_dir.empty()) {  // every overlay name, checked before any work
      overlays = overlay_names(data, o.png_dir);
      OutputPlan plan;
      for (size_t i = 0; i < overlays.size(); ++i) {
        const SliceSource src = data.source(static_cast<int64_t>(i));
        plan.add("--png-dir (the overlay of slice " + std::to_string(src.k) + " of '" +
                     data.image_paths()[static_cast<size_t>(src.volume)] + "')",
                 overlays[i]);
      }
      plan.check(inputs, named_outputs, usage);
    }
    const std::string hint = "try a smaller --batch than " + std::to_string(o.batch);
    InfNetMetrics literature;
    const MetricsAccumulator acc = naming_inputs(names, "eval: evaluating '" + names + "'", hint,
                                                 [&] { return evaluate(ctx, nets, data, o.batch, &literature, o.tta); });
    CreatedFolders folders;
    io::AtomicBatch outputs;  // the overlays appear together, or not at all
    if (!o.png_dir.empty()) folders.add(o.png_dir);
    const int64_t pngs = o.png_dir.empty() ? 0
                                           : naming_inputs(names, "eval: overlays of '" + names + "'", hint, [&] {
                                               return write_overlays(ctx, nets, data, o.batch, overlays, o.tta);
                                             });
    outputs.commit();
    folders.commit();
    if (nets.size() == 1)
      std::printf("model %s (%s form)", names.c_str(), io::form_name(nets.front().form()));
    else
      std::printf("ensemble of %zu models (mean probability): %s", nets.size(), names.c_str());
    std::printf(", %lld slices of %zu images at %d x %d\n", static_cast<long long>(data.size()), images.size(),
                config.input_size[0], config.input_size[1]);
    if (o.per_image) {
      std::printf("%-6s %-5s %9s %9s  %s\n", "slice", "k", "dice", "sens", "image");
      for (int64_t i = 0; i < acc.images(); ++i) {
        const Confusion& c = acc.per_image()[static_cast<size_t>(i)];
        const SliceSource src = data.source(i);
        std::printf("%-6lld %-5lld %8.2f%% %8.2f%%  %s\n", static_cast<long long>(i), static_cast<long long>(src.k),
                    100 * c.dice(), 100 * c.sensitivity(), data.image_paths()[static_cast<size_t>(src.volume)].c_str());
      }
    }
    std::printf("%s", format_metrics_table(acc).c_str());
    std::printf("%s", format_inf_net_table(literature.values()).c_str());
    if (pngs > 0) std::printf("overlays: %lld PNG files in %s\n", static_cast<long long>(pngs), o.png_dir.c_str());
    if (!o.json.empty()) {
      const std::string text = metrics_json(acc, literature.values()) + "\n";
      io::write_bytes_atomic(o.json, text.data(), text.size());
      std::printf("metrics: %s\n", o.json.c_str());
    }
  });
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand("eval", "Metrics of a model on image/mask pairs (micro and per-image)");
  add_model_option(sub, o->models);
  sub->add_option("--images", o->images,
                  "Images, comma-separated (or repeated): NIfTI files, DICOM series folders, PNG/JPEG slices, "
                  "or folders of slices")
      ->required();
  sub->add_option("--masks", o->masks, "Masks in the same order (a mask folder for a folder of slices)")->required();
  add_reader_options(sub, o->series, o->png16_hu);
  sub->add_option("--labels", o->labels, "Lesion labels of the masks, comma-separated, or any (default: the model's; "
                                         "mask images: any pixel > 0)");
  sub->add_option("--batch", o->batch)->capture_default_str();
  add_device_option(sub, o->device);
  sub->add_flag("--per-image", o->per_image, "Also list each slice's Dice and sensitivity");
  add_tta_flag(sub, o->tta);
  sub->add_option("--png-dir", o->png_dir, "Folder for one overlay per slice, <stem>_<slice>.png (red: prediction, green: mask)");
  sub->add_option("--json", o->json, "Write every metric (micro, per-image, Inf-Net) to this JSON file");
  add_precision_option(sub, o->precision);
  sub->callback([o] { run_eval(*o); });
}

}  // namespace srmds::cli
