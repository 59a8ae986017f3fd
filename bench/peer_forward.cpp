// srmds_peer_forward: ours, as bench/compare_cpu_peers.py times it against OpenVINO, ONNX Runtime
// and PyTorch. Loads a weight file (training form: fused here, in double, as `srmds bench` does),
// reads N x in x H x W float32 inputs (raw, C order), runs `warmup` untimed fused forward passes of
// z_0 and then `iters` timed ones at the given precision, prints one JSON line
//   {"ms": [...], "median_ms": m, "precision": "...", "kernel": "...", "threads": t}
// (plus "peak_rss_mb": VmHWM of /proc/self/status, the peak resident set of this program alone)
// and, with --out, writes the last pass's z_0 (float32, raw) for the agreement check.
//   srmds_peer_forward --model M --input X.bin --shape N,C,H,W [--precision fp32|bf16]
//                      [--warmup 1] [--iters 3] [--out Z.bin]
// Threads: OMP_NUM_THREADS. No Google Benchmark: built with the library's benchmarks.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "srmds/cpu/conv2d_bf16.hpp"
#include "srmds/cpu/conv2d_winograd_bf16.hpp"
#include "srmds/cpu/isa.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/srmds_net.hpp"

using namespace srmds;

namespace {

// Peak resident set size of this process in MB (VmHWM; -1 where /proc is not available).
double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return -1;
}

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr, "srmds_peer_forward: %s\n", msg.c_str());
  std::exit(2);
}

std::vector<int64_t> parse_shape(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) out.push_back(std::atoll(part.c_str()));
  if (out.size() != 4) usage("--shape must be N,C,H,W");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, input, out, shape_arg, precision_arg = "fp32";
  int warmup = 1, iters = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("missing value after " + a);
    const std::string v = argv[++i];
    if (a == "--model") model = v;
    else if (a == "--input") input = v;
    else if (a == "--out") out = v;
    else if (a == "--shape") shape_arg = v;
    else if (a == "--precision") precision_arg = v;
    else if (a == "--warmup") warmup = std::atoi(v.c_str());
    else if (a == "--iters") iters = std::atoi(v.c_str());
    else usage("unknown option " + a);
  }
  if (model.empty() || input.empty() || shape_arg.empty()) usage("--model, --input and --shape are required");
  if (iters < 1 || warmup < 0) usage("--iters must be >= 1 and --warmup >= 0");
  try {
    const Precision precision = parse_precision(precision_arg);
    const std::vector<int64_t> sh = parse_shape(shape_arg);
    Context<Cpu> ctx;
    SrmdsNet<float, Cpu> net = io::load_weights<float, Cpu>(ctx, model);
    if (net.form() == NetForm::Train) net = net.fused(ctx);
    net.set_precision(precision);
    Tensor<float, Cpu> x(Shape{sh[0], sh[1], sh[2], sh[3]});
    {
      std::ifstream f(input, std::ios::binary);
      f.read(reinterpret_cast<char*>(x.data()), static_cast<std::streamsize>(x.numel() * sizeof(float)));
      if (!f || f.gcount() != static_cast<std::streamsize>(x.numel() * sizeof(float)))
        usage("cannot read " + std::to_string(x.numel()) + " float32 values from " + input);
    }
    Tensor<float, Cpu> z(Shape{sh[0], 1, sh[2], sh[3]});
    for (int i = 0; i < warmup; ++i) net.forward_eval(ctx, x, z);
    std::vector<double> ms;
    for (int i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      net.forward_eval(ctx, x, z);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    if (!out.empty()) {
      std::ofstream f(out, std::ios::binary);
      f.write(reinterpret_cast<const char*>(z.data()), static_cast<std::streamsize>(z.numel() * sizeof(float)));
      if (!f) usage("cannot write " + out);
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    const size_t m = sorted.size();
    const double median = m % 2 ? sorted[m / 2] : 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]);
    const char* kernel = precision == Precision::Fp32
                             ? cpu::cpu_isa_name(cpu::cpu_isa())
                             : cpu::bf16_amx_active()          ? "amx_bf16+avx512_bf16"
                             : (cpu::bf16_dot_products_active() ? "avx512_bf16" : "bf16-fp32-fallback");
    std::printf("{\"ms\": [");
    for (size_t i = 0; i < ms.size(); ++i) std::printf("%s%.3f", i ? ", " : "", ms[i]);
    std::printf("], \"median_ms\": %.3f, \"precision\": \"%s\", \"kernel\": \"%s\", \"threads\": %d, \"peak_rss_mb\": %.1f}\n",
                median, precision_name(precision), kernel, omp_get_max_threads(), peak_rss_mb());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "srmds_peer_forward: %s\n", e.what());
    return 1;
  }
  return 0;
}
