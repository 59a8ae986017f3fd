// train_parity_tool: the srmds side of tests/test_train_parity.py (training steps against the
// PyTorch twin, SPEC §3 and §5).
//
//   train_parity_tool --config JSON --ds native|upsample|off --target avg|average|nearest|max
//                     --dice-weight W --precision double|float --epochs E --batch B --slices S
//                     --size H --warmup-epochs WE --lr LR --seed SEED --out DIR
//
// Writes S phantom slices of H x H (one per NIfTI file) into DIR/data, trains the training form
// with the library's Trainer (shuffle and random flips on, no validation) for E epochs, and writes
//   DIR/run.json            the options, the lr and the loss of every step
//   DIR/init.safetensors    the initial state (weights and BN statistics), F64
//   DIR/batches.safetensors "images.K", "masks.K" (n, 1, H, W) of step K as trained on (shuffled,
//                           flipped), F64
//   DIR/final.safetensors   the state after the last step and the Adam moments
//                           ("optimizer.m.<name>", "optimizer.v.<name>"), F64
// The batches are served again from the same dataset, seed and epochs, which is what makes the
// Trainer's batches reproducible (data/slice_dataset.hpp); a replay on other batches would show in
// the first step's loss.
//
//   train_parity_tool slices --config JSON --images A[,B..] --masks MA[,MB..] --out FILE
//                            [--seed S --batch B --labels L1,L2 --augment SPEC]
// The tensors a dataset makes of the inputs (tests/test_slice_tensors.py): F64 "image.I" and
// "mask.I" (H, W) of every slice I in load order (windowed, resized, unflipped), "source.I" =
// [volume, k]; and the batches of epoch 0 served with shuffle and flips from seed S (default 0,
// batch B default 4; augmented as --augment says, data/augment.hpp): "served.images.J",
// "served.masks.J" (n, 1, H, W), "served.indices.J" and "served.flipped.J" (n).
// Errors print one line to stderr and exit 1.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "srmds/core/context.hpp"
#include "srmds/core/error.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/train/trainer.hpp"

namespace {

using srmds::Context;
using srmds::Cpu;
using srmds::Tensor;

struct Args {
  std::map<std::string, std::string> values;

  Args(int argc, char** argv) {
    for (int i = 1; i < argc; i += 2) {
      const std::string key = argv[i];
      SRMDS_CHECK(key.rfind("--", 0) == 0 && i + 1 < argc, "train_parity_tool: expected '--option value', got '" << key << "'");
      values[key.substr(2)] = argv[i + 1];
    }
  }
  std::string get(const std::string& key, const std::string& fallback = "") const {
    const auto it = values.find(key);
    SRMDS_CHECK(it != values.end() || !fallback.empty(), "train_parity_tool: missing --" << key);
    return it != values.end() ? it->second : fallback;
  }
  double number(const std::string& key, const std::string& fallback = "") const { return std::stod(get(key, fallback)); }
  int integer(const std::string& key, const std::string& fallback = "") const { return std::stoi(get(key, fallback)); }
};

// A safetensors file of F64 tensors (the library writes F32 only; the parity test needs every bit).
class F64File {
public:
  template <class T>
  void add(const std::string& name, const Tensor<T, Cpu>& t) {
    std::vector<int64_t> shape;
    for (int d = 0; d < t.shape().rank(); ++d) shape.push_back(t.shape()[d]);
    const size_t begin = m_data.size();
    for (int64_t i = 0; i < t.numel(); ++i) m_data.push_back(static_cast<double>(t[i]));
    m_header[name] = {{"dtype", "F64"}, {"shape", shape}, {"data_offsets", {begin * 8, m_data.size() * 8}}};
  }
  void write(const std::string& path) const {
    std::string header = m_header.dump();
    while ((8 + header.size()) % 8 != 0) header += ' ';
    std::ofstream f(path, std::ios::binary);
    const uint64_t n = header.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    f.write(reinterpret_cast<const char*>(len), 8);
    f << header;
    f.write(reinterpret_cast<const char*>(m_data.data()), static_cast<std::streamsize>(m_data.size() * sizeof(double)));
    SRMDS_CHECK(f.good(), "train_parity_tool: could not write '" << path << "'");
  }

private:
  nlohmann::json m_header = nlohmann::json::object();
  std::vector<double> m_data;  // little-endian hosts only (x86-64, aarch64)
};

template <class T>
F64File state_file(srmds::StateList<T, Cpu> state) {
  F64File f;
  for (const auto& e : state) f.add(e.name, *e.value);
  return f;
}

template <class T>
int run(const Args& a) {
  namespace fs = std::filesystem;
  const fs::path out = a.get("out");
  fs::create_directories(out / "data");
  const int slices = a.integer("slices"), size = a.integer("size"), seed = a.integer("seed", "0");

  srmds::NetConfig cfg = srmds::config_from_json(a.get("config"));
  cfg.input_size = {size, size};
  std::vector<std::string> images, masks;
  for (const srmds::PhantomFiles& p : srmds::write_phantom_dataset((out / "data").string(), slices, size, seed + 1)) {
    images.push_back(p.image);
    masks.push_back(p.mask);
  }
  const srmds::SliceSampling sampling{true, true, static_cast<uint64_t>(seed)};
  srmds::SliceDataset data(images, masks, srmds::SliceDataOptions::from_config(cfg), sampling);

  srmds::TrainOptions t;
  t.epochs = a.integer("epochs");
  t.batch = a.integer("batch");
  t.optimizer.lr = a.number("lr", "5e-4");
  t.warmup_epochs = a.number("warmup-epochs", "2");
  t.log_every = 0;
  const std::string ds = a.get("ds", "native"), target = a.get("target", "avg");
  SRMDS_CHECK(ds == "native" || ds == "upsample" || ds == "off", "train_parity_tool: --ds " << ds);
  SRMDS_CHECK(target == "avg" || target == "average" || target == "nearest" || target == "max",
              "train_parity_tool: --target " << target);
  t.loss.ds = ds == "off" ? srmds::DsMode::Off : ds == "upsample" ? srmds::DsMode::Upsample : srmds::DsMode::Native;
  t.loss.target = target == "nearest" ? srmds::TargetMode::Nearest
                  : target == "max"   ? srmds::TargetMode::Max
                                      : srmds::TargetMode::Average;
  t.loss.dice_weight = a.number("dice-weight", "0.5");

  Context<Cpu> ctx;
  srmds::SrmdsNet<T, Cpu> net(ctx, cfg, srmds::NetForm::Train, static_cast<uint64_t>(seed));
  state_file(net.state()).write((out / "init.safetensors").string());

  srmds::Trainer<T, Cpu> trainer(ctx, net, t);
  trainer.fit(data, nullptr);

  F64File final_state = state_file(net.state());
  for (const auto& e : trainer.optimizer_state()) final_state.add(e.name, *e.value);
  final_state.write((out / "final.safetensors").string());

  // The batches again: the same dataset, seed and epochs serve the same slices and flips.
  F64File batches;
  int64_t step = 0;
  const int64_t per_epoch = data.num_batches(t.batch);
  for (int e = 0; e < t.epochs; ++e) {
    data.set_epoch(static_cast<uint64_t>(e));
    for (int64_t b = 0; b < per_epoch; ++b, ++step) {
      const srmds::SliceBatch batch = data.batch(b, t.batch);
      batches.add("images." + std::to_string(step), batch.images);
      batches.add("masks." + std::to_string(step), batch.masks);
    }
  }
  batches.write((out / "batches.safetensors").string());

  const int64_t total = per_epoch * t.epochs;
  nlohmann::json run = {{"config", nlohmann::json::parse(srmds::config_to_json(cfg))},
                        {"ds", ds},
                        {"target", target == "avg" ? "average" : target},
                        {"ds_weights", t.loss.weights},
                        {"dice_weight", t.loss.dice_weight},
                        {"adam",
                         {{"beta1", t.optimizer.beta1},
                          {"beta2", t.optimizer.beta2},
                          {"eps", t.optimizer.eps},
                          {"weight_decay", t.optimizer.weight_decay},
                          {"decoupled", t.optimizer.decoupled}}},
                        {"lr", t.optimizer.lr},
                        {"warmup_steps", std::min<int64_t>(std::llround(t.warmup_epochs * per_epoch), total)},
                        {"total_steps", total},
                        {"steps", step},
                        {"precision", std::is_same_v<T, double> ? "double" : "float"},
                        {"lrs", trainer.lr_history()},
                        {"losses", trainer.loss_history()}};
  std::ofstream((out / "run.json").string()) << run.dump(1) << "\n";
  return 0;
}

}  // namespace

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = s.find(',', start)) != std::string::npos; start = comma + 1)
    out.push_back(s.substr(start, comma - start));
  out.push_back(s.substr(start));
  return out;
}

template <class T>
Tensor<double, Cpu> plane(const T* data, int h, int w) {
  Tensor<double, Cpu> t(srmds::Shape{h, w});
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<double>(data[i]);
  return t;
}

int dump_slices(const Args& a) {
  const srmds::NetConfig cfg = srmds::config_from_json(a.get("config"));
  srmds::SliceDataOptions options = srmds::SliceDataOptions::from_config(cfg);
  if (!a.get("labels", "-").empty() && a.get("labels", "-") != "-") {
    std::vector<int> labels;
    for (const std::string& l : split_list(a.get("labels"))) labels.push_back(std::stoi(l));
    options.lesion_labels = options.image_mask_labels = labels;
  }
  const srmds::SliceSampling sampling{true, true, static_cast<uint64_t>(a.integer("seed", "0")),
                                      srmds::parse_augmentation(a.get("augment", "none"))};
  const srmds::SliceDataset data(split_list(a.get("images")), split_list(a.get("masks")), options, sampling);
  F64File f;
  const int h = data.height(), w = data.width();
  for (int64_t i = 0; i < data.size(); ++i) {
    const std::string n = std::to_string(i);
    f.add("image." + n, plane(data.image(i), h, w));
    f.add("mask." + n, plane(data.mask(i), h, w));
    const srmds::SliceSource src = data.source(i);
    const double where[2] = {static_cast<double>(src.volume), static_cast<double>(src.k)};
    f.add("source." + n, plane(where, 1, 2));
  }
  const int batch = a.integer("batch", "4");
  for (int64_t b = 0; b < data.num_batches(batch); ++b) {
    const srmds::SliceBatch sb = data.batch(b, batch);
    const std::string n = std::to_string(b);
    f.add("served.images." + n, sb.images);
    f.add("served.masks." + n, sb.masks);
    f.add("served.indices." + n, plane(sb.indices.data(), 1, static_cast<int>(sb.indices.size())));
    f.add("served.flipped." + n, plane(sb.flipped.data(), 1, static_cast<int>(sb.flipped.size())));
  }
  f.write(a.get("out"));
  return 0;
}

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "slices") return dump_slices(Args(argc - 1, argv + 1));
    const Args a(argc, argv);
    return a.get("precision", "double") == "float" ? run<float>(a) : run<double>(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_parity_tool: %s\n", e.what());
    return 1;
  }
}
