// interop_tool: the srmds side of tests/test_interop_torch.py (PyTorch interop, SPEC §6).
//
//   interop_tool write-random --config JSON --form train|fused --seed S --out FILE
//       random weights and BN statistics, scaled so activations stay O(1) through the net (the
//       same distributions as python/srmds_torch.py SRMDSNet.randomize_):
//         branch convs N(0, 2 / (fan_in * terms)), terms = conv branches + identity of the block;
//         fused convs N(0, 2 / fan_in), bias N(0, 0.1); BN gamma U(0.5, 1.5), beta N(0, 0.1),
//         running_mean N(0, 0.1), running_var U(0.5, 1.5); SE fc N(0, 1 / fan_in), fc1 bias N(0, 0.1),
//         fc2 bias N(1.5, 0.1); SGE att.weight N(0, 0.5), att.bias N(1, 0.1); CBAM att.fc1, att.fc2,
//         att.spatial weights N(0, 1 / fan_in), att.spatial.bias N(1.5, 0.1); PSA conv weights
//         N(0, 1 / fan_in), conv biases N(0, 0.1), att.ch_ln.weight U(0.5, 1.5), att.ch_ln.bias
//         N(-1.5, 0.1); heads N(0, 1 / fan_in), bias N(0, 0.01).
//   interop_tool write-init --config JSON --form train|fused --seed S --out FILE
//       the library's own initialisation (SrmdsNet's constructor, SPEC §5), untouched
//       (tests/test_init_torch.py compares its distribution with PyTorch's defaults).
//   interop_tool forward --model FILE --input X.f32 --n N --h H --w W --output Z.f32
//       eval-mode forward of whichever form FILE holds; raw little-endian float32 NCHW in and out
//       (x: (N, in_channels, H, W), z0: (N, 1, H, W)).
//   interop_tool fuse --model TRAIN --out FUSED
//       the library's fusion (SPEC §2) of a training-form file.
//
// Errors print one line to stderr and exit 1.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "srmds/core/context.hpp"
#include "srmds/core/error.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/config.hpp"
#include "srmds/nets/srmds_net.hpp"

namespace {

using srmds::Context;
using srmds::Cpu;
using Net = srmds::SrmdsNet<float, Cpu>;

struct Args {
  std::map<std::string, std::string> values;

  Args(int argc, char** argv, int first) {
    for (int i = first; i < argc; i += 2) {
      const std::string key = argv[i];
      SRMDS_CHECK(key.rfind("--", 0) == 0 && i + 1 < argc, "interop_tool: expected '--option value', got '" << key << "'");
      values[key.substr(2)] = argv[i + 1];
    }
  }
  const std::string& get(const std::string& key) const {
    const auto it = values.find(key);
    SRMDS_CHECK(it != values.end(), "interop_tool: missing --" << key);
    return it->second;
  }
  int64_t get_int(const std::string& key) const {
    const std::string& s = get(key);
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SRMDS_CHECK(used == s.size() && v >= 0, "interop_tool: --" << key << " must be a non-negative integer, got '" << s << "'");
    return v;
  }
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// "enc0.b0.br.3x3.conv.weight" -> "enc0.b0."
std::string block_prefix(const std::string& name) {
  const size_t a = name.find('.');
  const size_t b = a == std::string::npos ? a : name.find('.', a + 1);
  return b == std::string::npos ? std::string() : name.substr(0, b + 1);
}

// Number of summed terms per block: conv branches plus the identity where it applies.
std::map<std::string, int> block_terms(const srmds::StateList<float, Cpu>& state, const srmds::NetConfig& cfg) {
  std::map<std::string, int> terms;
  for (const auto& nt : state) {
    if (!contains(nt.name, ".br.") || !ends_with(nt.name, ".conv.weight")) continue;
    const std::string prefix = block_prefix(nt.name);
    const srmds::Shape& s = nt.value->shape();
    if (!terms.count(prefix)) terms[prefix] = (cfg.has_branch("id") && s[0] == s[1]) ? 1 : 0;
    ++terms[prefix];
  }
  return terms;
}

// The attention parameters under "<block>.att." (SGE, CBAM, PSA), as SRMDSNet.randomize_.
template <class Normal, class Uniform>
void randomize_attention(const std::string& name, double fan_in, const Normal& normal, const Uniform& uniform) {
  const std::string leaf = name.substr(name.find(".att.") + 5);
  if (leaf == "weight") normal(0.0, 0.5);  // SGE
  else if (leaf == "bias") normal(1.0, 0.1);
  else if (leaf == "spatial.bias") normal(1.5, 0.1);  // CBAM
  else if (leaf == "ch_ln.weight") uniform(0.5, 1.5);  // PSA
  else if (leaf == "ch_ln.bias") normal(-1.5, 0.1);  // channel gate near 0.2 (see randomize_)
  else if (ends_with(leaf, ".weight")) normal(0.0, std::sqrt(1.0 / fan_in));  // CBAM fc1, fc2, spatial; PSA convs
  else if (ends_with(leaf, ".bias")) normal(0.0, 0.1);                        // PSA convs
  else SRMDS_THROW("interop_tool write-random: no rule for attention tensor '" << name << "'");
}

void randomize(Net& net, const srmds::NetConfig& cfg, uint64_t seed) {
  srmds::Rng rng(seed);
  srmds::StateList<float, Cpu> state = net.state();
  const std::map<std::string, int> terms = block_terms(state, cfg);
  for (const auto& nt : state) {
    srmds::Tensor<float, Cpu>& t = *nt.value;
    const std::string& name = nt.name;
    const srmds::Shape& s = t.shape();
    const double fan_in = s.rank() == 4 ? static_cast<double>(s[1] * s[2] * s[3]) : 1.0;
    const auto normal = [&](double mean, double sd) {
      for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.normal(mean, sd));
    };
    const auto uniform = [&](double lo, double hi) {
      for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.uniform(lo, hi));
    };
    const bool is_bn = contains(name, ".bn.") || contains(name, ".br.id.");
    if (is_bn && (ends_with(name, ".weight") || ends_with(name, ".running_var"))) uniform(0.5, 1.5);
    else if (is_bn && (ends_with(name, ".bias") || ends_with(name, ".running_mean"))) normal(0.0, 0.1);
    else if (contains(name, ".br.") && ends_with(name, ".conv.weight"))
      normal(0.0, std::sqrt(2.0 / (fan_in * terms.at(block_prefix(name)))));
    else if (ends_with(name, ".fused.weight")) normal(0.0, std::sqrt(2.0 / fan_in));
    else if (ends_with(name, ".fused.bias") || ends_with(name, ".se.fc1.bias")) normal(0.0, 0.1);
    else if (ends_with(name, ".se.fc2.bias")) normal(1.5, 0.1);
    else if (ends_with(name, ".se.fc1.weight") || ends_with(name, ".se.fc2.weight")) normal(0.0, std::sqrt(1.0 / fan_in));
    else if (contains(name, ".att.")) randomize_attention(name, fan_in, normal, uniform);
    else if (name.rfind("head", 0) == 0 && ends_with(name, ".weight")) normal(0.0, std::sqrt(1.0 / fan_in));
    else if (name.rfind("head", 0) == 0 && ends_with(name, ".bias")) normal(0.0, 0.01);
    else SRMDS_THROW("interop_tool write-random: no rule for tensor '" << name << "' " << s);
  }
}

std::vector<float> read_f32(const std::string& path, int64_t count) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  SRMDS_CHECK(in, "interop_tool: cannot open '" << path << "'");
  const auto bytes = static_cast<int64_t>(in.tellg());
  SRMDS_CHECK(bytes == count * 4, "interop_tool: '" << path << "' has " << bytes << " bytes, expected " << count * 4);
  std::vector<float> v(static_cast<size_t>(count));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), bytes);
  SRMDS_CHECK(in, "interop_tool: cannot read '" << path << "'");
  return v;
}

void write_f32(const std::string& path, const float* data, int64_t count) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SRMDS_CHECK(out, "interop_tool: cannot create '" << path << "'");
  out.write(reinterpret_cast<const char*>(data), count * 4);
  SRMDS_CHECK(out, "interop_tool: cannot write '" << path << "'");
}

int run(int argc, char** argv) {
  static_assert(sizeof(float) == 4, "float32 expected");
  {
    const uint32_t one = 1;
    unsigned char first = 0;
    std::memcpy(&first, &one, 1);
    SRMDS_CHECK(first == 1, "interop_tool: raw .f32 files are little-endian; this host is not");
  }
  SRMDS_CHECK(argc >= 2, "usage: interop_tool write-random|write-init|forward|fuse --option value ...");
  const std::string cmd = argv[1];
  const Args args(argc, argv, 2);
  Context<Cpu> ctx;

  if (cmd == "write-random") {
    const srmds::NetConfig cfg = srmds::config_from_json(args.get("config"));
    const std::string& f = args.get("form");
    SRMDS_CHECK(f == "train" || f == "fused", "interop_tool: --form must be train or fused, got '" << f << "'");
    const auto seed = static_cast<uint64_t>(args.get_int("seed"));
    Net net(ctx, cfg, f == "train" ? srmds::NetForm::Train : srmds::NetForm::Fused, seed);
    randomize(net, cfg, seed);
    srmds::io::save_weights(ctx, args.get("out"), net);
    return 0;
  }
  if (cmd == "write-init") {
    const srmds::NetConfig cfg = srmds::config_from_json(args.get("config"));
    const std::string& f = args.get("form");
    SRMDS_CHECK(f == "train" || f == "fused", "interop_tool: --form must be train or fused, got '" << f << "'");
    Net net(ctx, cfg, f == "train" ? srmds::NetForm::Train : srmds::NetForm::Fused,
            static_cast<uint64_t>(args.get_int("seed")));
    srmds::io::save_weights(ctx, args.get("out"), net);
    return 0;
  }
  if (cmd == "forward") {
    Net net = srmds::io::load_weights<float, Cpu>(ctx, args.get("model"));
    const int64_t n = args.get_int("n"), h = args.get_int("h"), w = args.get_int("w");
    const int64_t c = net.config().in_channels;
    const std::vector<float> xv = read_f32(args.get("input"), n * c * h * w);
    srmds::Tensor<float, Cpu> x(srmds::Shape{n, c, h, w});  // (N, Cin, H, W)
    std::memcpy(x.data(), xv.data(), xv.size() * sizeof(float));
    srmds::Tensor<float, Cpu> z0(srmds::Shape{n, 1, h, w});  // (N, 1, H, W)
    net.forward_eval(ctx, x, z0);
    write_f32(args.get("output"), z0.data(), z0.numel());
    return 0;
  }
  if (cmd == "fuse") {
    Net net = srmds::io::load_weights<float, Cpu>(ctx, args.get("model"));
    SRMDS_CHECK(net.form() == srmds::NetForm::Train, "interop_tool fuse: '" << args.get("model") << "' is already fused");
    Net fused = net.fused(ctx);
    srmds::io::save_weights(ctx, args.get("out"), fused);
    return 0;
  }
  SRMDS_THROW("interop_tool: unknown command '" << cmd << "' (write-random, write-init, forward, fuse)");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
