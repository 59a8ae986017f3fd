// srmds export --model M --out model.onnx [--batch N|dynamic] [--size HxW|dynamic] [--dynamic]
//              [--output probability|logits]
// Writes the fused inference network (head 0 only) as an ONNX model (io/onnx_export.hpp): a
// training-form file is fused first (in double, as `srmds fuse`). Batch 1 and the config's
// input_size by default; --dynamic makes batch and size symbolic. The model's config, the
// preprocessing it expects and the weight file's metadata ("weights.<key>") go into metadata_props.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "commands.hpp"
#include "size_arg.hpp"
#include "usage_error.hpp"
#include "srmds/infer/output_plan.hpp"
#include "srmds/io/atomic_file.hpp"
#include "srmds/io/onnx_export.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/model_stats.hpp"

namespace srmds::cli {

namespace {

struct ExportOptions {
  std::string model;
  std::string out;
  std::string batch = "1";
  std::string size;  // empty: the config's input_size
  bool dynamic = false;
  std::string output = "probability";
};

int64_t parse_batch(const std::string& text) {
  if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::atoi(text.c_str()) < 1 || std::atoi(text.c_str()) > 1024)
    SRMDS_USAGE("export: --batch \"" << text << "\" is not a batch size in [1, 1024] or \"dynamic\"");
  return std::atoi(text.c_str());
}

void run_export(const ExportOptions& o) {
  io::OnnxExportOptions eo;
  if (o.output == "probability")
    eo.output = io::OnnxOutput::Probability;
  else if (o.output == "logits")
    eo.output = io::OnnxOutput::Logits;
  else
    SRMDS_USAGE("export: --output \"" << o.output << "\" is not one of probability, logits");
  const bool dynamic_batch = o.dynamic || o.batch == "dynamic";
  const bool dynamic_size = o.dynamic || o.size == "dynamic";
  if (o.dynamic && ((o.batch != "1" && o.batch != "dynamic") || (!o.size.empty() && o.size != "dynamic")))
    SRMDS_USAGE("export: --dynamic makes batch and size dynamic; it cannot be given with a fixed --batch or --size");
  eo.batch = dynamic_batch ? 0 : parse_batch(o.batch);
  std::array<int, 2> hw{0, 0};
  if (!dynamic_size && !o.size.empty()) {
    std::string text = o.size;
    for (char& ch : text)
      if (ch == ',') ch = 'x';  // SPEC §8 writes H,W
    hw = parse_size(text, "--size");
  }
  refuse_same_files({{"--model", o.model}}, {{"--out", o.out}}, [](const std::string& m) { SRMDS_USAGE("export: " << m); });
  if (!io::onnx_export_available())
    SRMDS_THROW("export: this build of srmds has no ONNX support (configured without libonnx-dev, SRMDS_WITH_ONNX=OFF); "
                "install libonnx-dev and libprotobuf-dev (scripts/install-deps.sh) and rebuild");
  io::require_replaceable_file(o.out);

  Context<Cpu> ctx;
  const io::SafetensorsFile file = io::read_safetensors(o.model);
  SrmdsNet<float, Cpu> loaded = io::load_weights<float, Cpu>(ctx, file, o.model);
  const NetForm source_form = loaded.form();
  SrmdsNet<float, Cpu> net = source_form == NetForm::Fused ? std::move(loaded) : loaded.fused(ctx);
  const NetConfig& cfg = net.config();
  if (!dynamic_size && o.size.empty()) hw = cfg.input_size;
  eo.height = hw[0];
  eo.width = hw[1];
  for (const auto& kv : file.metadata) eo.extra_metadata["weights." + kv.first] = kv.second;
  eo.extra_metadata["srmds.source"] = o.model;
  eo.extra_metadata["srmds.source_form"] = io::form_name(source_form);

  io::export_onnx(net, eo, o.out);
  const ModelStats st = model_stats(cfg, NetForm::Fused, cfg.input_size[0], cfg.input_size[1]);
  const std::string n = eo.batch > 0 ? std::to_string(eo.batch) : std::string("N");
  const std::string shape =
      eo.height > 0 ? std::to_string(eo.height) + " x " + std::to_string(eo.width) : std::string("H x W");
  std::printf("exported %s (%s form, attention %s, %s parameters) -> %s: ONNX opset %d, input image %s x %d x %s, "
              "output %s\n",
              o.model.c_str(), io::form_name(source_form), attention_name(cfg.attention),
              with_thousands(st.params).c_str(), o.out.c_str(), io::kOnnxOpset, n.c_str(), cfg.in_channels,
              shape.c_str(), io::onnx_output_name(eo.output));
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto opts = std::make_shared<ExportOptions>();
  CLI::App* sub = app.add_subcommand("export", "Export the fused network (head 0) as an ONNX model");
  sub->add_option("--model", opts->model, "Weight file (.safetensors), either form")->required();
  sub->add_option("--out", opts->out, "ONNX model to write")->required();
  sub->add_option("--batch", opts->batch, "Batch size N, or \"dynamic\"")->capture_default_str();
  sub->add_option("--size", opts->size, "Input size H or HxW, or \"dynamic\" (default: the model's input_size)");
  sub->add_flag("--dynamic", opts->dynamic, "Dynamic batch and size (symbolic N, H, W)");
  sub->add_option("--output", opts->output, "Graph output: probability (sigmoid of z_0, as segment --prob-out) or logits")
      ->capture_default_str();
  sub->callback([opts] { run_export(*opts); });
}

}  // namespace srmds::cli
