// srmds_cuda_bench: the GPU bundle's one benchmark program (scripts/gpu-bundle.sh, run.sh). Self-timed
// with CUDA events, so it needs no Google Benchmark library; one process, one Context<Cuda> for
// every case, so cuDNN's algorithm search runs once per shape and math mode.
//
//   srmds_cuda_bench --out FILE.json [--weights-dir DIR] [--budget SECONDS] [--reps N] [--cases k1,k2]
//                    [--cuda-graph]
//
// Cases, in this order (base 64, eval mode for inference; each may be left out by --cases or when
// the remaining budget is too small, and is then reported as skipped with the reason):
//   infer_fused_b1_fp32  infer_fused_b1_tf32  infer_fused_b16_fp32  infer_fused_b16_tf32
//       fused-form forward_eval of (B, 1, 512, 512)
//   train_step_b8_tf32  train_step_b8_fp32
//       forward_train (four scales) + deep-supervision loss and gradient + backward + Adam step,
//       (8, 1, 256, 256)
// fp32: cuDNN restricted to FMA math; tf32: tensor-core TF32 allowed (PyTorch's default for
// convolutions, torch.backends.cudnn.allow_tf32).
//
// --cuda-graph (off by default: no GPU has measured it yet; turn it on by default once a run shows
// the graph faster): each inference case is also timed replaying the fused forward from a CUDA Graph
// (infer/forward_graph.hpp: captured once per shape after one eager run; each pass copies the input
// in, launches the graph, copies the output out), reported under "cuda_graph" in the case with its
// own median, per_step counters (one graph launch, no host wait), what one replay runs (captured_work)
// and whether its output equals the eager forward's bit for bit. Each training case is also timed
// replaying the whole step (forward_train, loss into a fixed device slot, backward, the multi-tensor
// Adam step reading lr and the bias corrections from device memory) from a CUDA Graph, as
// `srmds train --cuda-graph` runs it (train/trainer.hpp): per pass the batch is copied into the
// graph's inputs and the Adam scalars written (three copies), then one graph launch; its "goal"
// counts the graph launch as one launch (tests/cuda/test_cuda_train_graph checks that the graph's
// step equals the eager one bit for bit).
//
// The training step leaves its loss on the device (DeepSupervisionLoss::forward_backward_to), as the
// trainer does; the trainer reads it once per logging interval. Its "goal" entry states issue 20's
// goal, checked on the counted step: no host wait inside a step (so at most one per logging
// interval, the trainer's read) and fewer than 400 launches (kernels + cuDNN calls) per step.
//
// Weights: the training form is random (SrmdsNet seed 1) and the fused form its fusion; both are
// written to --weights-dir as b64_train.safetensors and b64_fused.safetensors so that the PyTorch
// side (bench/cuda_torch_bench.py) runs the same weights. Files already there are loaded instead.
//
// Timing per case: build, then one untimed pass that includes cuDNN's search (reported as
// first_ms), one more warm-up pass, then --reps timed passes (default 20; fewer when the case's
// share of the budget runs out, at least 3), each between two CUDA events on the context's stream,
// alternating between two different random inputs. Reported: median, min, max (ms), images/s from
// the median, and the allocator's peak bytes.
//
// Output: FILE.json, rewritten atomically after every case: {"device": {...}, "cases": [...]}.
// Exit status 0 when every selected case ran or was skipped for time, 1 on an error, 77 when no GPU
// can be used (FILE.json then says why).
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/check.hpp"
#include "kernels/cudnn.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/cuda/context.hpp"
#include "srmds/cuda/counters.hpp"
#include "srmds/io/atomic_file.hpp"
#include "srmds/infer/forward_graph.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/losses/deep_supervision.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/ops/tensor_ops.hpp"
#include "srmds/optim/adam.hpp"

namespace {

using namespace srmds;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kBase = 64;
constexpr int64_t kMaxLaunchesPerStep = 400;  // issue 20's goal for a training step (base 64, batch 8, 256 x 256)

struct Options {
  std::string out;
  std::string weights_dir = ".";
  double budget_s = 240;
  int reps = 20;
  std::vector<std::string> cases;  // empty: all
  bool cuda_graph = false;         // also time the inference cases replayed from a CUDA Graph
};

struct Case {
  std::string key;
  bool train;  // training step, else fused inference
  int64_t batch, size;
  bool tf32;
  double min_budget_s;  // skipped when less time than this remains
};

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = {
      {"infer_fused_b1_fp32", false, 1, 512, false, 5},   {"infer_fused_b1_tf32", false, 1, 512, true, 5},
      {"infer_fused_b16_fp32", false, 16, 512, false, 10}, {"infer_fused_b16_tf32", false, 16, 512, true, 10},
      {"train_step_b8_tf32", true, 8, 256, true, 15},      {"train_step_b8_fp32", true, 8, 256, false, 15},
  };
  return cases;
}

void usage_error(const std::string& what) {
  std::fprintf(stderr,
               "srmds_cuda_bench: %s\nusage: srmds_cuda_bench --out FILE.json [--weights-dir DIR] "
               "[--budget SECONDS] [--reps N] [--cases k1,k2,...] [--cuda-graph]\n"
               "  --cuda-graph  also time inference and the training step replayed from a CUDA Graph (off by default: "
               "not yet measured "
               "faster on a GPU)\n",
               what.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--out") o.out = value();
    else if (a == "--weights-dir") o.weights_dir = value();
    else if (a == "--budget") o.budget_s = std::atof(value().c_str());
    else if (a == "--reps") o.reps = std::atoi(value().c_str());
    else if (a == "--cuda-graph") o.cuda_graph = true;
    else if (a == "--cases") {
      const std::string list = value();
      size_t start = 0;
      while (start <= list.size()) {
        const size_t end = std::min(list.find(',', start), list.size());
        if (end > start) o.cases.push_back(list.substr(start, end - start));
        start = end + 1;
      }
    } else usage_error("unknown argument " + a);
  }
  if (o.out.empty()) usage_error("--out is required");
  if (o.reps < 3) usage_error("--reps must be at least 3");
  for (const std::string& k : o.cases)
    if (std::none_of(all_cases().begin(), all_cases().end(), [&](const Case& c) { return c.key == k; }))
      usage_error("unknown case " + k);
  return o;
}

void write_json(const std::string& path, const json& j) {
  const std::string text = j.dump(2) + "\n";
  io::write_bytes_atomic(path, text.data(), text.size());
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Tensor<float, Cpu> random_host(const Shape& s, uint64_t seed, double lo, double hi) {
  Rng rng(seed);
  Tensor<float, Cpu> t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.uniform(lo, hi));
  return t;
}

// A mask of 8x8 blobs, about a quarter set (as bench_network and the PyTorch side).
Tensor<float, Cpu> random_mask(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  Tensor<float, Cpu> t(s);
  for (int64_t b = 0; b < s.n(); ++b)
    for (int64_t i = 0; i < s.h(); i += 8)
      for (int64_t j = 0; j < s.w(); j += 8) {
        const float v = rng.uniform(0, 1) < 0.25 ? 1.0f : 0.0f;
        for (int64_t p = i; p < std::min(s.h(), i + 8); ++p)
          for (int64_t q = j; q < std::min(s.w(), j + 8); ++q) t[(b * s.h() + p) * s.w() + q] = v;
      }
  return t;
}

// Times `step` (work queued on the context's stream): one untimed pass including cuDNN's search,
// one warm-up pass, then up to reps timed passes within share_s seconds (at least 3). The first
// timed pass is also counted (cuda/counters.hpp): "per_step" kernels, cudnn_calls, copies, host_syncs.
json time_case(Context<Cuda>& ctx, const std::function<void(int)>& step, int reps, double share_s) {
  cudaEvent_t start = nullptr, stop = nullptr;
  SRMDS_CUDA_CHECK(cudaEventCreate(&start));
  SRMDS_CUDA_CHECK(cudaEventCreate(&stop));
  json r;
  try {
    const auto t0 = Clock::now();
    step(0);
    ctx.synchronize();
    r["first_ms"] = 1e3 * seconds_since(t0);
    step(1);
    ctx.synchronize();
    const auto t1 = Clock::now();
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
      if (i == 0) cuda::reset_work_counts();
      SRMDS_CUDA_CHECK(cudaEventRecord(start, ctx.stream()));
      step(i);
      if (i == 0) {  // what one step costs the host: launches, cuDNN calls, copies, waits
        const cuda::WorkCounts n = cuda::work_counts();
        r["per_step"] = {{"kernels", n.kernels},
                         {"cudnn_calls", n.library_calls},
                         {"copies", n.copies},
                         {"host_syncs", n.host_syncs},
                         {"graph_launches", n.graph_launches}};
      }
      SRMDS_CUDA_CHECK(cudaEventRecord(stop, ctx.stream()));
      SRMDS_CUDA_CHECK(cudaEventSynchronize(stop));
      float elapsed = 0;
      SRMDS_CUDA_CHECK(cudaEventElapsedTime(&elapsed, start, stop));
      ms.push_back(elapsed);
      if (static_cast<int>(ms.size()) >= 3 && seconds_since(t1) > share_s) break;
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    r["reps"] = ms.size();
    r["median_ms"] = sorted[sorted.size() / 2];
    r["min_ms"] = sorted.front();
    r["max_ms"] = sorted.back();
    r["all_ms"] = ms;
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  SRMDS_CUDA_WARN(cudaEventDestroy(start));
  SRMDS_CUDA_WARN(cudaEventDestroy(stop));
  return r;
}

// The base-64 training-form net and its fusion: loaded from the weights folder if there, else made
// (random, seed 1) and written there.
struct Nets {
  std::string train_path, fused_path;
  bool loaded = false;
};

Nets prepare_weights(Context<Cuda>& ctx, const std::string& dir) {
  Nets n;
  std::filesystem::create_directories(dir);
  n.train_path = (std::filesystem::path(dir) / "b64_train.safetensors").string();
  n.fused_path = (std::filesystem::path(dir) / "b64_fused.safetensors").string();
  if (std::filesystem::exists(n.train_path) && std::filesystem::exists(n.fused_path)) {
    n.loaded = true;
    return n;
  }
  NetConfig cfg;
  cfg.base = kBase;
  SrmdsNet<float, Cuda> net(ctx, cfg, NetForm::Train, 1);
  io::save_weights(ctx, n.train_path, net);
  SrmdsNet<float, Cuda> fused = net.fused(ctx);
  io::save_weights(ctx, n.fused_path, fused);
  return n;
}

// The eager forward's output on x and the graph's, compared bit for bit.
bool same_output(Context<Cuda>& ctx, const Tensor<float, Cuda>& a, const Tensor<float, Cuda>& b) {
  const Tensor<float, Cpu> ha = to_host(ctx, a), hb = to_host(ctx, b);
  return ha.numel() == hb.numel() &&
         std::memcmp(ha.data(), hb.data(), static_cast<size_t>(ha.numel()) * sizeof(float)) == 0;
}

json run_case(Context<Cuda>& ctx, const Case& c, const Nets& nets, int reps, double share_s, bool cuda_graph) {
  ctx.set_tf32(c.tf32);
  const Shape xs{c.batch, 1, c.size, c.size};
  // Two different inputs, alternated, so no pass runs on data the previous one left in cache.
  std::array<Tensor<float, Cuda>, 2> x{from_host(ctx, random_host(xs, 11, 0, 1)),
                                       from_host(ctx, random_host(xs, 12, 0, 1))};
  json r;
  if (!c.train) {
    SrmdsNet<float, Cuda> net = io::load_weights<float, Cuda>(ctx, nets.fused_path);
    Tensor<float, Cuda> z(xs, ctx);
    r = time_case(ctx, [&](int i) { net.forward_eval(ctx, x[static_cast<size_t>(i % 2)], z); }, reps, share_s);
    r["macs_per_image"] = static_cast<double>(model_stats(net.config(), NetForm::Fused, c.size, c.size).macs);
    if (cuda_graph) {
      ForwardGraph<Cuda> graph(io::load_weights<float, Cuda>(ctx, nets.fused_path));
      Tensor<float, Cuda> zg(Shape{c.batch, 1, c.size, c.size}, ctx);
      json g = time_case(ctx, [&](int i) { graph.forward(ctx, x[static_cast<size_t>(i % 2)], zg); }, reps, share_s);
      const cuda::WorkCounts inside = graph.captured_work();
      g["captured_work"] = {{"kernels", inside.kernels}, {"cudnn_calls", inside.library_calls}, {"copies", inside.copies}};
      g["captures"] = graph.captures();
      net.forward_eval(ctx, x[0], z);
      graph.forward(ctx, x[0], zg);
      g["equal_to_eager"] = same_output(ctx, z, zg);
      g["images_per_s"] = static_cast<double>(c.batch) / (g["median_ms"].get<double>() / 1e3);
      r["cuda_graph"] = g;
    }
  } else {
    SrmdsNet<float, Cuda> net = io::load_weights<float, Cuda>(ctx, nets.train_path);
    const std::array<Tensor<float, Cuda>, 2> mask{from_host(ctx, random_mask(xs, 13)),
                                                  from_host(ctx, random_mask(xs, 14))};
    DeepSupervisionLoss<float, Cuda> loss(net.config());
    std::array<Tensor<float, Cuda>, kNumScales> dz;
    Adam<float, Cuda> adam(ctx, net.state());
    Tensor<double, Cuda> step_loss(Shape{1, 1, 1, 1}, ctx);  // the loss stays on the device, as in the trainer
    r = time_case(
        ctx,
        [&](int i) {
          const auto& z = net.forward_train(ctx, x[static_cast<size_t>(i % 2)]);
          loss.forward_backward_to(ctx, z, mask[static_cast<size_t>(i % 2)], dz, step_loss);
          net.backward(ctx, dz, WriteMode::Overwrite);
          adam.step(ctx);
        },
        reps, share_s);
    const double value = to_host(ctx, step_loss)[0];
    r["loss"] = value;
    if (!std::isfinite(value)) throw Error("the training step's loss is not finite");
    const json& n = r["per_step"];
    const int64_t launches = n["kernels"].get<int64_t>() + n["cudnn_calls"].get<int64_t>();
    const int64_t syncs = n["host_syncs"].get<int64_t>();
    r["goal"] = {{"launches_per_step", launches},
                 {"max_launches_per_step", kMaxLaunchesPerStep},
                 {"host_syncs_per_step", syncs},
                 {"max_host_syncs_per_log_interval", 1},
                 {"met", launches < kMaxLaunchesPerStep && syncs == 0}};
    r["macs_per_image"] = 3.0 * static_cast<double>(model_stats(net.config(), NetForm::Train, c.size, c.size).macs);
    if (cuda_graph) {  // the same step replayed from a CUDA Graph (a second copy of the net and optimizer)
      SrmdsNet<float, Cuda> gnet = io::load_weights<float, Cuda>(ctx, nets.train_path);
      DeepSupervisionLoss<float, Cuda> gloss_fn(gnet.config());
      std::array<Tensor<float, Cuda>, kNumScales> gdz;
      Adam<float, Cuda> gadam(ctx, gnet.state());
      Tensor<float, Cuda> gx(xs, ctx), gy(xs, ctx);  // the graph's fixed inputs
      Tensor<double, Cuda> gloss(Shape{1, 1, 1, 1}, ctx), scalars(Shape{kAdamDeviceScalars, 1, 1, 1}, ctx);
      cuda::StreamGraph graph;
      const auto work = [&] {
        const auto& z = gnet.forward_train(ctx, gx);
        gloss_fn.forward_backward_to(ctx, z, gy, gdz, gloss);
        gnet.backward(ctx, gdz, WriteMode::Overwrite);
        gadam.queue_step(ctx, scalars);
      };
      int captures = 0;
      bool warm = false;
      json g = time_case(
          ctx,
          [&](int i) {
            copy(ctx, x[static_cast<size_t>(i % 2)], gx);
            copy(ctx, mask[static_cast<size_t>(i % 2)], gy);
            const AdamStep s = gadam.next_step(gadam.options().lr);
            Tensor<double, Cpu> h(Shape{kAdamDeviceScalars, 1, 1, 1});
            h[0] = s.lr;
            h[1] = s.bias_correction1;
            h[2] = s.bias_correction2;
            copy_to_device(ctx, h, scalars);
            if (!warm) {  // the first pass eager: cuDNN's search, every buffer sized
              work();
              warm = true;
            } else {
              if (!graph.captured()) {
                graph.capture(ctx, work);
                ++captures;
              }
              graph.launch(ctx);
            }
            gadam.advance();
          },
          reps, share_s);
      const cuda::WorkCounts inside = graph.captured_work();
      g["captured_work"] = {{"kernels", inside.kernels}, {"cudnn_calls", inside.library_calls}, {"copies", inside.copies}};
      g["captures"] = captures;
      const double gvalue = to_host(ctx, gloss)[0];
      g["loss"] = gvalue;
      if (!std::isfinite(gvalue)) throw Error("the captured training step's loss is not finite");
      const json& gn = g["per_step"];
      const int64_t glaunches = gn["kernels"].get<int64_t>() + gn["cudnn_calls"].get<int64_t>() +
                                gn["graph_launches"].get<int64_t>();
      const int64_t gsyncs = gn["host_syncs"].get<int64_t>();
      g["goal"] = {{"launches_per_step", glaunches},
                   {"max_launches_per_step", kMaxLaunchesPerStep},
                   {"host_syncs_per_step", gsyncs},
                   {"max_host_syncs_per_log_interval", 1},
                   {"met", glaunches < kMaxLaunchesPerStep && gsyncs == 0}};
      g["images_per_s"] = static_cast<double>(c.batch) / (g["median_ms"].get<double>() / 1e3);
      r["cuda_graph"] = g;
    }
  }
  r["images_per_s"] = static_cast<double>(c.batch) / (r["median_ms"].get<double>() / 1e3);
  r["peak_bytes_in_use"] = ctx.allocator_stats().peak_bytes_in_use;
  r["conv_plans"] = ctx.conv_plans().size();
  return r;
}

json device_info(const Context<Cuda>& ctx) {
  cudaDeviceProp prop{};
  SRMDS_CUDA_CHECK(cudaGetDeviceProperties(&prop, ctx.device()));
  int runtime = 0, driver = 0;
  SRMDS_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  SRMDS_CUDA_CHECK(cudaDriverGetVersion(&driver));
  json d;
  d["name"] = prop.name;
  d["sm_count"] = prop.multiProcessorCount;
  d["compute_capability"] = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  d["memory_bytes"] = prop.totalGlobalMem;
  d["cuda_runtime"] = runtime;
  d["cuda_driver"] = driver;
  d["cudnn"] = cudnnGetVersion();
  return d;
}

int run(const Options& o) {
  const auto t0 = Clock::now();
  json out;
  out["program"] = "srmds_cuda_bench";
  out["budget_s"] = o.budget_s;
  out["cases"] = json::array();
  int count = 0;
  const cudaError_t probe = cudaGetDeviceCount(&count);
  if (probe != cudaSuccess || count == 0) {
    out["status"] = "skipped";
    out["reason"] = std::string("no CUDA device: ") + (probe == cudaSuccess ? "none found" : cudaGetErrorString(probe));
    write_json(o.out, out);
    std::printf("%s\n", out["reason"].get<std::string>().c_str());
    return 77;
  }
  int status = 0;
  {  // the context lives in this scope only: destroyed before main returns and the runtime shuts down
    Context<Cuda> ctx;
    out["device"] = device_info(ctx);
    const Nets nets = prepare_weights(ctx, o.weights_dir);
    out["weights"] = {{"train", nets.train_path}, {"fused", nets.fused_path}, {"loaded", nets.loaded}};
    write_json(o.out, out);
    std::vector<const Case*> selected;
    for (const Case& c : all_cases())
      if (o.cases.empty() || std::find(o.cases.begin(), o.cases.end(), c.key) != o.cases.end()) selected.push_back(&c);
    for (size_t i = 0; i < selected.size(); ++i) {
      const Case& c = *selected[i];
      json r;
      r["key"] = c.key;
      r["batch"] = c.batch;
      r["size"] = c.size;
      r["base"] = kBase;
      r["tf32"] = c.tf32;
      r["kind"] = c.train ? "train_step" : "infer_fused";
      const double left = o.budget_s - seconds_since(t0);
      if (left < c.min_budget_s) {
        r["status"] = "skipped";
        r["reason"] = "budget: " + std::to_string(static_cast<int>(left)) + " s left, case needs " +
                      std::to_string(static_cast<int>(c.min_budget_s)) + " s";
      } else {
        // the timed passes of this case get an equal share of what is left (build and search aside)
        const double share = std::max(1.0, 0.5 * left / static_cast<double>(selected.size() - i));
        try {
          r.update(run_case(ctx, c, nets, o.reps, share, o.cuda_graph));
          r["status"] = "ok";
        } catch (const std::exception& e) {
          r["status"] = "error";
          r["reason"] = e.what();
          status = 1;
        }
      }
      std::printf("%-22s %s", c.key.c_str(), r["status"].get<std::string>().c_str());
      if (r.contains("median_ms"))
        std::printf("  median %.2f ms (min %.2f, max %.2f, %d reps)  %.1f images/s  first pass %.0f ms",
                    r["median_ms"].get<double>(), r["min_ms"].get<double>(), r["max_ms"].get<double>(),
                    r["reps"].get<int>(), r["images_per_s"].get<double>(), r["first_ms"].get<double>());
      if (r.contains("cuda_graph")) {
        const json& g = r["cuda_graph"];
        std::printf("  cuda graph: median %.2f ms", g["median_ms"].get<double>());
        if (g.contains("equal_to_eager")) std::printf(", equal to eager %s", g["equal_to_eager"].get<bool>() ? "yes" : "NO");
        if (g.contains("goal"))
          std::printf(", %lld launches and %lld syncs per step: goal %s",
                      static_cast<long long>(g["goal"]["launches_per_step"].get<int64_t>()),
                      static_cast<long long>(g["goal"]["host_syncs_per_step"].get<int64_t>()),
                      g["goal"]["met"].get<bool>() ? "met" : "NOT MET");
      }
      if (r.contains("goal"))
        std::printf("  goal (<%d launches, 0 host syncs per step): %lld launches, %lld syncs: %s",
                    static_cast<int>(kMaxLaunchesPerStep), static_cast<long long>(r["goal"]["launches_per_step"].get<int64_t>()),
                    static_cast<long long>(r["goal"]["host_syncs_per_step"].get<int64_t>()),
                    r["goal"]["met"].get<bool>() ? "met" : "NOT MET");
      if (r.contains("reason")) std::printf("  (%s)", r["reason"].get<std::string>().c_str());
      std::printf("\n");
      std::fflush(stdout);
      out["cases"].push_back(r);
      write_json(o.out, out);
    }
  }
  out["status"] = status == 0 ? "ok" : "error";
  out["seconds"] = seconds_since(t0);
  write_json(o.out, out);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "srmds_cuda_bench: %s\n", e.what());
    return 1;
  }
}
