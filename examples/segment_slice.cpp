// segment_slice: segment one slice of a CT volume and write a PNG overlay (the library API in a
// few lines: load a weight file, fuse it, segment, write).
//
//   segment_slice MODEL.safetensors CT.nii.gz [SLICE] [OUT.png]
//
// MODEL may be a training-form file, a fused file or a training checkpoint. Without arguments the
// example runs on a synthetic phantom slice with an untrained base-8 network, which shows the
// calls but not a useful segmentation (train one with `srmds train` or `srmds demo`).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/data/phantom.hpp"
#include "srmds/io/nifti.hpp"
#include "srmds/io/png.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/infer/segment.hpp"

int main(int argc, char** argv) {
  using namespace srmds;
  try {
    Context<Cpu> ctx;
    Tensor<float, Cpu> x;  // (1, 1, H, W) windowed slice at model size
    std::string out = "segment_slice.png";
    SrmdsNet<float, Cpu> net = [&] {
      if (argc >= 3) return io::load_weights<float, Cpu>(ctx, argv[1]);
      NetConfig cfg;
      cfg.base = 8;
      cfg.input_size = {128, 128};
      return SrmdsNet<float, Cpu>(ctx, cfg, NetForm::Train, /*seed=*/1);
    }();
    if (net.form() == NetForm::Train) net = net.fused(ctx);  // inference form: same output, faster
    const SliceDataOptions data_options = SliceDataOptions::from_config(net.config());

    if (argc >= 3) {
      const io::NiftiVolume volume = io::read_nifti(argv[2]);
      const long k = argc >= 4 ? std::strtol(argv[3], nullptr, 10) : volume.nk() / 2;
      if (k < 0 || k >= volume.nk()) SRMDS_THROW("slice " << k << " is outside [0, " << volume.nk() << ")");
      if (argc >= 5) out = argv[4];
      const Tensor<float, Cpu> all = volume_to_input(volume, data_options);  // (nk, 1, H, W)
      const Shape& s = all.shape();
      x = Tensor<float, Cpu>(Shape{1, 1, s.h(), s.w()});
      for (int64_t i = 0; i < x.numel(); ++i) x[i] = all[k * s.h() * s.w() + i];
    } else {
      const auto [h, w] = net.config().input_size;
      const PhantomSlice slice = generate_phantom(h, w, /*seed=*/3);
      x = Tensor<float, Cpu>(Shape{1, 1, h, w});
      apply_window(slice.hu.data(), x.numel(), data_options.window, x.data());
    }

    const Tensor<float, Cpu> p = predict_probability(ctx, net, x, /*batch=*/1);  // sigmoid(z_0)
    std::vector<uint8_t> mask(static_cast<size_t>(p.numel()));
    int64_t lesion = 0;
    for (int64_t i = 0; i < p.numel(); ++i) lesion += mask[static_cast<size_t>(i)] = p[i] >= 0.5f;
    const int h = static_cast<int>(x.shape().h()), w = static_cast<int>(x.shape().w());
    io::write_overlay_png(out, x.data(), h, w, mask.data());
    std::printf("%d x %d slice: %lld of %lld pixels predicted as lesion; overlay written to %s\n", h, w,
                static_cast<long long>(lesion), static_cast<long long>(p.numel()), out.c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "segment_slice: %s\n", e.what());
    return 1;
  }
}
