// srmds info --base B [--attention A] [--size H[xW]] | --model M [--size ..]: parameters and MACs
// of both forms (model_stats, SPEC §1; attention included), the form of a weight file and its
// configuration. srmds info --list-attention: the attention types this build knows, one per line
// (blocks/attention_traits.hpp; scripts/ablation.sh and the PyTorch twin's test read it).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "usage_error.hpp"
#include "commands.hpp"
#include "size_arg.hpp"
#include "srmds/io/safetensors.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/model_stats.hpp"

namespace srmds::cli {

namespace {

struct InfoOptions {
  int base = 0;
  std::string attention;
  std::string size;
  std::string model;
  bool list_attention = false;
};

// 159618640384 -> "159.62 GMAC"; below 1e9 in MMAC.
std::string gmac(int64_t macs) {
  char buf[64];
  const double v = static_cast<double>(macs);
  if (v >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f GMAC", v / 1e9);
  else
    std::snprintf(buf, sizeof buf, "%.2f MMAC", v / 1e6);
  return buf;
}

void print_stats(const NetConfig& cfg, int64_t h, int64_t w) {
  const ModelStats train = model_stats(cfg, NetForm::Train, h, w);
  const ModelStats fused = model_stats(cfg, NetForm::Fused, h, w);
  std::cout << "input:       1 x " << cfg.in_channels << " x " << h << " x " << w << "\n"
            << "training form:  " << with_thousands(train.params) << " parameters (all four heads), "
            << with_thousands(train.macs) << " MAC (" << gmac(train.macs) << ", through head0)\n"
            << "fused form:     " << with_thousands(fused.params) << " parameters (head0), "
            << with_thousands(fused.macs) << " MAC (" << gmac(fused.macs) << ")\n";
}

void run_info(const InfoOptions& o) {
  NetConfig cfg;
  if (!o.model.empty()) {
    const io::SafetensorsFile file = io::read_safetensors(o.model);
    const io::WeightsInfo info = io::read_weights_info(file, o.model);
    cfg = info.config;
    std::cout << "model:       " << o.model << "\n"
              << "form:        " << io::form_name(info.form) << "\n";
  } else {
    if (o.base <= 0 || o.base > kMaxBase) SRMDS_USAGE("info: --base must be in [1, " << kMaxBase << "], got " << o.base);
    cfg.base = o.base;
    if (!o.attention.empty()) cfg.attention = parse_attention(o.attention);
  }
  std::array<int, 2> hw = cfg.input_size;
  if (!o.size.empty()) hw = parse_size(o.size, "--size");
  const std::string json = config_to_json(cfg);  // validates before anything is printed
  std::cout << "config:      " << json << "\n";
  print_stats(cfg, hw[0], hw[1]);
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto opts = std::make_shared<InfoOptions>();
  CLI::App* sub = app.add_subcommand("info", "Parameters, MACs (one image), form and configuration");
  auto* base = sub->add_option("--base", opts->base, "Base width b of a default network (widths b, 2b, 4b, 8b, 8b)");
  auto* model = sub->add_option("--model", opts->model, "A weight file (.safetensors)");
  auto* attention = sub->add_option("--attention", opts->attention, "With --base: the attention (default se)")
                        ->check(CLI::IsMember(attention_names()));
  auto* list = sub->add_flag("--list-attention", opts->list_attention,
                             "Print the attention types this build knows, one per line");
  base->excludes(model);
  attention->excludes(model);
  list->excludes(base)->excludes(model);
  sub->add_option("--size", opts->size, "Input size H or HxW (default: the config's input_size, 512)");
  sub->callback([opts, sub] {
    if (opts->list_attention) {
      for (const std::string& name : attention_names()) std::cout << name << "\n";
      return;
    }
    if (opts->model.empty() && sub->count("--base") == 0)
      throw CLI::ValidationError("info", "needs --base B or --model M");
    run_info(*opts);
  });
}

}  // namespace srmds::cli
