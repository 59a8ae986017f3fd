// srmds segment --model M --input CT.nii.gz --output MASK.nii.gz [--prob-out P.nii.gz] [--png-dir D]:
// segments every slice of a volume (infer/segment.hpp). The mask (uint8, 1 = lesion) and the
// probability p = sigmoid(z_0) (float32) have the input's dimensions and geometry; slices of any
// in-plane size are resized to the model's input size and the results resized back (nearest for
// the mask, bilinear for p). --png-dir writes one overlay per slice at model size (red outline: the
// predicted lesions). If any output fails, the outputs written before it are removed again.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "commands.hpp"
#include "inference_errors.hpp"
#include "srmds/io/nifti.hpp"
#include "srmds/io/png.hpp"
#include "srmds/io/weights.hpp"
#include "srmds/infer/segment.hpp"

namespace srmds::cli {

namespace {

struct SegmentOptions {
  std::string model, input, output, prob_out, png_dir, device = "cpu";
  int batch = 8;
};

void run_segment(const SegmentOptions& o) {
  if (o.batch < 1 || o.batch > 4096) SRMDS_THROW("segment: --batch must be in [1, 4096], got " << o.batch);
  require_output_path(o.output, "--output");
  if (!o.prob_out.empty()) require_output_path(o.prob_out, "--prob-out");
  with_device(o.device, [&](auto& ctx) {
    using D = device_of_t<decltype(ctx)>;
    SrmdsNet<float, D> net = io::load_weights<float, D>(ctx, o.model);
    const io::NiftiVolume volume = io::read_nifti(o.input);
    const VolumeSegmentation seg = naming_inputs(
        o.model, "segment: segmenting '" + o.input + "' with '" + o.model + "'", "try a smaller --batch than " + std::to_string(o.batch),
        [&] { return segment_volume(ctx, net, volume, o.batch); });

    OutputFiles outputs;
    outputs.add(o.output);
    io::write_nifti_mask(o.output, volume.geometry, seg.volume.mask);
    if (!o.prob_out.empty()) {
      outputs.add(o.prob_out);
      io::write_nifti_float(o.prob_out, volume.geometry, seg.volume.probability);
    }
    int64_t pngs = 0;
    if (!o.png_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(o.png_dir, ec);
      if (ec) SRMDS_THROW("segment: cannot create the folder '" << o.png_dir << "': " << ec.message());
      const Shape& s = seg.input.shape();
      const int64_t hw = s.h() * s.w();
      std::vector<uint8_t> pred(static_cast<size_t>(hw));
      for (int64_t k = 0; k < s.n(); ++k) {
        for (int64_t i = 0; i < hw; ++i) pred[static_cast<size_t>(i)] = seg.probability[k * hw + i] >= 0.5f ? 1 : 0;
        char name[40];
        std::snprintf(name, sizeof name, "slice_%04lld.png", static_cast<long long>(k));
        const std::string path = (std::filesystem::path(o.png_dir) / name).string();
        outputs.add(path);
        io::write_overlay_png(path, seg.input.data() + k * hw, static_cast<int>(s.h()), static_cast<int>(s.w()),
                              pred.data());
        ++pngs;
      }
    }
    outputs.commit();

    int64_t lesion = 0;
    for (uint8_t m : seg.volume.mask) lesion += m;
    const io::NiftiGeometry& g = volume.geometry;
    std::printf("segmented %s (%lld x %lld x %lld) with %s: %lld lesion voxels (%.2f %%)\n", o.input.c_str(),
                static_cast<long long>(g.ni), static_cast<long long>(g.nj), static_cast<long long>(g.nk),
                o.model.c_str(), static_cast<long long>(lesion),
                100.0 * static_cast<double>(lesion) / static_cast<double>(g.voxels()));
    std::printf("mask: %s\n", o.output.c_str());
    if (!o.prob_out.empty()) std::printf("probability: %s\n", o.prob_out.c_str());
    if (pngs > 0) std::printf("overlays: %lld PNG files in %s\n", static_cast<long long>(pngs), o.png_dir.c_str());
  });
}

}  // namespace

void add_segment_command(CLI::App& app) {
  auto o = std::make_shared<SegmentOptions>();
  CLI::App* sub = app.add_subcommand("segment", "Segment the lesions of a CT volume (NIfTI)");
  sub->add_option("--model", o->model, "Weight file or training checkpoint (.safetensors)")->required();
  sub->add_option("--input", o->input, "CT volume in HU (.nii or .nii.gz)")->required();
  sub->add_option("--output", o->output, "Mask to write (uint8, .nii or .nii.gz)")->required();
  sub->add_option("--prob-out", o->prob_out, "Probability volume to write (float32)");
  sub->add_option("--png-dir", o->png_dir, "Folder for one PNG overlay per slice");
  sub->add_option("--batch", o->batch)->capture_default_str();
  sub->add_option("--device", o->device)->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  sub->callback([o] { run_segment(*o); });
}

}  // namespace srmds::cli
