// srmds_consumer: a program built against the installed srmds package (find_package(srmds)).
//  1. builds a small SR&MDS-Net (base 4), fuses it into the inference form, segments a 32 x 32
//     synthetic CT slice with both forms and checks that they agree;
//  2. runs the whole segmentation pipeline (infer/segment_file.hpp) on a phantom NIfTI volume in a
//     temporary folder: the network saved as a weight file, the mask, probability map and report
//     written as `srmds segment` writes them;
//  3. times the fused inference of one 1 x 1 x 512 x 512 image by a base-64 network (random weights,
//     built as `srmds bench` builds its network): one warm-up pass, then the median of
//     `runs` passes (argument 1, default 3), in ms.
// The CPU kernels are compiled inside the library and chosen at run time by processor, so this
// program runs them as fast as the srmds tool does, whatever flags it is compiled with.
// Exit status 0 on success.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/cpu/isa.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/data/window.hpp"
#include "srmds/infer/segment_file.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/version.hpp"

namespace {

// Fused and training forms of a base-4 network agree on a phantom slice.
bool check_fused_agrees(srmds::Context<srmds::Cpu>& ctx) {
  using namespace srmds;
  NetConfig cfg;
  cfg.base = 4;
  cfg.input_size = {32, 32};
  SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, /*seed=*/42);
  SrmdsNet<float, Cpu> fused = net.fused(ctx);

  // One phantom slice in HU, windowed to [0, 1]: x (1, 1, 32, 32).
  const PhantomSlice slice = generate_phantom(32, 32, /*seed=*/7);
  Tensor<float, Cpu> x(Shape{1, 1, 32, 32});
  apply_window(slice.hu.data(), x.numel(), lung_window(), x.data());

  Tensor<float, Cpu> z_train(Shape{1, 1, 32, 32}), z_fused(Shape{1, 1, 32, 32});
  net.forward_eval(ctx, x, z_train);
  fused.forward_eval(ctx, x, z_fused);
  double max_dev = 0, max_abs = 0;
  int lesion_pixels = 0;
  for (int64_t i = 0; i < z_train.numel(); ++i) {
    max_dev = std::fmax(max_dev, std::fabs(static_cast<double>(z_fused[i]) - z_train[i]));
    max_abs = std::fmax(max_abs, std::fabs(static_cast<double>(z_train[i])));
    lesion_pixels += z_fused[i] >= 0.0f;
  }
  const ModelStats st = model_stats(cfg, NetForm::Fused, 32, 32);
  std::printf("srmds %s: fused base-4 network, %lld parameters, %lld MAC per 32 x 32 image\n", version(),
              static_cast<long long>(st.params), static_cast<long long>(st.macs));
  std::printf("max |z0 fused - z0 train| = %.3g (max |z0| = %.3g), %d pixels predicted as lesion (untrained)\n",
              max_dev, max_abs, lesion_pixels);
  if (!(max_dev <= 1e-4 * std::fmax(1.0, max_abs))) {
    std::fprintf(stderr, "srmds_consumer: the fused network differs from the training form\n");
    return false;
  }
  return true;
}

// The pipeline API on a 64 x 64 x 3 phantom volume: mask, probability and report are written.
bool check_segment_file(srmds::Context<srmds::Cpu>& ctx) {
  using namespace srmds;
  namespace fs = std::filesystem;
  char pattern[] = "/tmp/srmds_consumer.XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return false;
  const fs::path dir(pattern);
  NetConfig cfg;
  cfg.base = 4;
  cfg.input_size = {64, 64};
  SrmdsNet<float, Cpu> net(ctx, cfg, NetForm::Train, /*seed=*/42);
  io::save_weights(ctx, (dir / "model.safetensors").string(), net);
  SegmentRequest request;
  request.input = write_phantom_dataset((dir / "ct").string(), 1, 64, /*seed=*/3, /*slices=*/3).front().image;
  request.model = (dir / "model.safetensors").string();
  request.mask = (dir / "mask.nii.gz").string();
  request.probability = (dir / "p.nii.gz").string();
  request.report = (dir / "lesions.json").string();
  const SegmentResult result = segment_file(ctx, net, request);
  const bool ok = result.burdens.size() == 1 && result.burdens[0].nk == 3 && fs::is_regular_file(request.mask) &&
                  fs::is_regular_file(request.probability) && fs::is_regular_file(request.report);
  std::printf("segment_file on a 64 x 64 x 3 phantom volume: %lld lesion voxels (untrained), %s\n",
              static_cast<long long>(ok ? result.burdens[0].lesion_voxels : -1), ok ? "mask, probability and report written" : "FAILED");
  std::error_code ec;
  fs::remove_all(dir, ec);
  return ok;
}

// Median ms of `runs` fused base-64 inferences of one 512 x 512 image, after one warm-up pass.
double time_fused_512(srmds::Context<srmds::Cpu>& ctx, int runs) {
  using namespace srmds;
  NetConfig cfg;
  cfg.base = 64;
  SrmdsNet<float, Cpu> fused = SrmdsNet<float, Cpu>(ctx, cfg, NetForm::Train, /*seed=*/1).fused(ctx);
  Rng rng(7);
  Tensor<float, Cpu> x(Shape{1, 1, 512, 512}), z(Shape{1, 1, 512, 512});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.uniform());
  fused.forward_eval(ctx, x, z);  // warm-up: allocates the stage buffers
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fused.forward_eval(ctx, x, z);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int runs = argc > 1 ? std::atoi(argv[1]) : 3;
    if (runs < 1 || runs > 1000) {
      std::fprintf(stderr, "usage: srmds_consumer [runs in 1..1000, default 3]\n");
      return 2;
    }
    srmds::Context<srmds::Cpu> ctx;
    if (!check_fused_agrees(ctx) || !check_segment_file(ctx)) return 1;
    const double ms = time_fused_512(ctx, runs);
    std::printf("fused base-64 inference of 1 x 1 x 512 x 512: %.1f ms (median of %d, %s CPU kernels)\n", ms, runs,
                srmds::cpu::cpu_isa_name(srmds::cpu::cpu_isa()));
    return 0;
  } catch (const srmds::Error& e) {
    std::fprintf(stderr, "srmds_consumer: %s\n", e.what());
    return 1;
  }
}
