// srmds_consumer: a program built against the installed srmds package (find_package(srmds)).
// It builds a small SR&MDS-Net (base 4), fuses it into the inference form, segments a 32 x 32
// synthetic CT slice with both forms and checks that they agree. Exit status 0 on success.
#include <cmath>
#include <cstdio>

#include "srmds/core/error.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/data/window.hpp"
#include "srmds/nets/model_stats.hpp"
#include "srmds/nets/srmds_net.hpp"
#include "srmds/version.hpp"

int main() {
  try {
    using namespace srmds;
    Context<Cpu> ctx;
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
      return 1;
    }
    return 0;
  } catch (const srmds::Error& e) {
    std::fprintf(stderr, "srmds_consumer: %s\n", e.what());
    return 1;
  }
}
