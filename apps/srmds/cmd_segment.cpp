// srmds segment --model M --input CT --output MASK [--prob-out P] [--png-dir D] [--report R.json]:
// segments every slice of an input (infer/segment.hpp) and reports the lesion burden (SPEC §8).
//   NIfTI volume or DICOM series (a folder, or any file of it; --series picks one of several):
//     the mask (uint8, 1 = lesion, .nii/.nii.gz) and the probability p = sigmoid(z_0) (float32)
//     have the input's dimensions and geometry (for DICOM the NIfTI geometry of the series,
//     io/dicom.hpp, so the mask lies on the series in any viewer);
//   PNG/JPEG slice: the mask is a PNG (0/255) of the input's size, --prob-out a PNG of 255 p;
//   folder of PNG/JPEG slices: --output (and --prob-out) are folders receiving <stem>.png each.
// Slices of any size are resized to the model's input size and the results resized back (nearest
// for the mask, bilinear for p). --png-dir writes one overlay per slice at model size (red outline:
// the predicted lesions). The lesion burden (infer/lesion_burden.hpp: volume in mL, per-slice area
// and fraction, slices with lesions; pixels only for 2-D images) is printed and, with --report,
// written as JSON. Every output is written to a hidden temporary file first and all are renamed
// together once every one is complete (io::AtomicBatch), so a failing or interrupted run leaves the
// user's files as they were (folders it created are removed again). Outputs must not name an input
// or each other (same_file.hpp). --precision bf16 (CPU) runs the fused form with its 3x3
// convolutions in bf16 with fp32 accumulation (a training-form file is fused first; nets/precision.hpp).
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_util.hpp"
#include "commands.hpp"
#include "inference_errors.hpp"
#include "same_file.hpp"
#include "srmds/data/input_volume.hpp"
#include "srmds/infer/lesion_burden.hpp"
#include "srmds/infer/segment.hpp"
#include "srmds/io/atomic_file.hpp"
#include "srmds/io/nifti.hpp"
#include "srmds/io/png.hpp"
#include "srmds/io/weights.hpp"

namespace srmds::cli {

namespace {

namespace fs = std::filesystem;

struct SegmentOptions {
  std::string model, input, output, prob_out, png_dir, report, series, device = "cpu", precision = "fp32";
  int batch = 8;
  bool png16_hu = false, tta = false;
};

bool ends_with_ci(const std::string& s, const std::string& ext) {
  if (s.size() <= ext.size()) return false;
  for (size_t i = 0; i < ext.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - ext.size() + i])) != ext[i]) return false;
  return true;
}

void require_extension(const std::string& path, const char* option, bool png) {
  const bool ok = png ? ends_with_ci(path, ".png") : (ends_with_ci(path, ".nii") || ends_with_ci(path, ".nii.gz"));
  if (!ok)
    SRMDS_USAGE(option << ": '" << path << "' must end in " << (png ? ".png (the input is a 2-D image)" : ".nii or .nii.gz"));
}

void require_folder_output(const std::string& path, const char* option) {
  std::error_code ec;
  if (path.empty()) SRMDS_USAGE(option << ": empty folder name");
  for (const char* ext : {".nii", ".nii.gz", ".png", ".jpg", ".jpeg", ".json"})
    if (ends_with_ci(path, ext))
      SRMDS_USAGE(option << ": '" << path << "' names a file, but a folder of images gives a folder of outputs "
                         << "(one <name>.png per image): name a folder");
  if (fs::exists(path, ec) && !fs::is_directory(path, ec))
    SRMDS_USAGE(option << ": '" << path << "' is a file; a folder of images needs an output folder");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    SRMDS_USAGE(option << ": the folder '" << parent.string() << "' of '" << path << "' does not exist");
}

std::vector<uint8_t> to_bytes(const std::vector<float>& p) {
  std::vector<uint8_t> out(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    const float v = p[i] < 0 ? 0.0f : (p[i] > 1 ? 1.0f : p[i]);
    out[i] = static_cast<uint8_t>(std::lround(255.0 * v));
  }
  return out;
}

// The file names a run writes for input `path` (index `i` of `inputs`).
struct InputOutputs {
  std::string mask, prob;
  std::vector<std::string> overlays;
};

InputOutputs outputs_for(const SegmentOptions& o, bool folder, const std::string& path, int64_t slices) {
  InputOutputs out;
  const std::string stem = fs::path(path).stem().string();
  out.mask = folder ? (fs::path(o.output) / (stem + ".png")).string() : o.output;
  if (!o.prob_out.empty()) out.prob = folder ? (fs::path(o.prob_out) / (stem + ".png")).string() : o.prob_out;
  if (!o.png_dir.empty()) {
    if (folder) {
      out.overlays.push_back((fs::path(o.png_dir) / (stem + ".png")).string());
    } else {
      for (int64_t k = 0; k < slices; ++k) {
        char name[32];
        std::snprintf(name, sizeof name, "slice_%04lld.png", static_cast<long long>(k));
        out.overlays.push_back((fs::path(o.png_dir) / name).string());
      }
    }
  }
  return out;
}

void run_segment(const SegmentOptions& o) {
  if (o.batch < 1 || o.batch > 4096) SRMDS_USAGE("segment: --batch must be in [1, 4096], got " << o.batch);
  const Precision precision = parse_precision(o.precision);
  if (precision == Precision::Bf16 && o.device != "cpu")
    SRMDS_USAGE("segment: --precision bf16 runs on the CPU only (--device cpu)");
  const bool folder = is_image_folder(o.input);
  if (folder) {
    require_folder_output(o.output, "--output");
    if (!o.prob_out.empty()) require_folder_output(o.prob_out, "--prob-out");
  } else {
    const bool png = input_kind(o.input) == InputKind::Image2d;
    require_output_path(o.output, "--output");
    require_extension(o.output, "--output", png);
    if (!o.prob_out.empty()) {
      require_output_path(o.prob_out, "--prob-out");
      require_extension(o.prob_out, "--prob-out", png);
    }
  }
  if (!o.report.empty()) require_output_path(o.report, "--report");
  const auto usage = [](const std::string& m) { SRMDS_USAGE("segment: " << m); };
  const std::vector<NamedFile> named_outputs = {
      {"--output", o.output}, {"--prob-out", o.prob_out}, {"--png-dir", o.png_dir}, {"--report", o.report}};
  std::vector<NamedFile> inputs = {{"--model", o.model}, {"--input", o.input}};
  refuse_same_files(inputs, named_outputs, usage);
  if (!folder)
    for (const std::string& path : {o.output, o.prob_out})
      if (!path.empty()) io::require_replaceable_file(path);
  if (!o.report.empty()) io::require_replaceable_file(o.report);
  const std::vector<std::string> files = folder ? list_image_files(o.input) : std::vector<std::string>{o.input};
  InputOptions input_options;
  input_options.dicom_series = o.series;
  input_options.png16_hu = o.png16_hu;

  // A volume is read before anything else: its slice count names the overlays, and its slice files
  // go into the report. Then every name the run writes is checked at once, before any work.
  std::optional<InputVolume> volume;
  if (!folder) volume = read_input_volume(o.input, input_options);
  std::vector<InputOutputs> names;
  OutputPlan plan;
  for (const std::string& path : files) {
    if (folder) inputs.push_back({"the input image", path});
    names.push_back(outputs_for(o, folder, path, volume ? volume->volume.geometry.nk : 1));
    const InputOutputs& n = names.back();
    if (folder) plan.add("--output (the mask of '" + path + "')", n.mask);
    if (folder && !n.prob.empty()) plan.add("--prob-out (the probability of '" + path + "')", n.prob);
    for (const std::string& png : n.overlays) plan.add("--png-dir (an overlay of '" + path + "')", png);
  }
  plan.check(inputs, named_outputs, usage);
  if (!o.report.empty()) {
    std::vector<std::string> reported = {o.model, o.input};
    for (const std::string& f : files) reported.push_back(f);
    if (volume) reported.insert(reported.end(), volume->slice_files.begin(), volume->slice_files.end());
    require_utf8_names(reported, "--report");
  }

  with_device(o.device, [&](auto& ctx) {
    using D = device_of_t<decltype(ctx)>;
    SrmdsNet<float, D> net = io::load_weights<float, D>(ctx, o.model);
    if constexpr (std::is_same_v<D, Cpu>) {
      if (precision == Precision::Bf16) {  // bf16 runs the fused form (a training-form file is fused here)
        if (net.form() == NetForm::Train) net = net.fused(ctx);
        net.set_precision(precision);
      }
    }
    if (net.config().in_channels != 1)
      SRMDS_THROW("segment: the network takes " << net.config().in_channels << " input channels; CT has 1");
    const SliceDataOptions data_options = SliceDataOptions::from_config(net.config());
    CreatedFolders folders;
    if (folder) {
      folders.add(o.output);
      if (!o.prob_out.empty()) folders.add(o.prob_out);
    }
    if (!o.png_dir.empty()) folders.add(o.png_dir);
    io::AtomicBatch outputs;  // nothing appears until commit(); destroyed uncommitted: nothing left
    std::vector<LesionBurden> burdens;
    std::vector<std::string> lines;
    int64_t pngs = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      const std::string& path = files[i];
      const InputOutputs& n = names[i];
      const InputVolume in = volume ? std::move(*volume) : read_input_volume(path, input_options);
      print_warnings(in.warnings);
      const Tensor<float, Cpu> x = input_to_model(in, data_options);
      const Tensor<float, Cpu> p = naming_inputs(
          o.model, "segment: segmenting '" + path + "' with '" + o.model + "'",
          "try a smaller --batch than " + std::to_string(o.batch), [&] { return predict_probability(ctx, net, x, o.batch, o.tta); });
      const VolumePrediction pred = prediction_to_volume(p, in.volume.geometry);
      const io::NiftiGeometry& g = in.volume.geometry;
      if (in.kind == InputKind::Image2d) {
        std::vector<uint8_t> m(pred.mask.size());
        for (size_t j = 0; j < m.size(); ++j) m[j] = pred.mask[j] ? 255 : 0;
        io::write_gray8_png(n.mask, m.data(), static_cast<int>(g.nj), static_cast<int>(g.ni));
        if (!n.prob.empty())
          io::write_gray8_png(n.prob, to_bytes(pred.probability).data(), static_cast<int>(g.nj), static_cast<int>(g.ni));
      } else {
        io::write_nifti_mask(n.mask, g, pred.mask);
        if (!n.prob.empty()) io::write_nifti_float(n.prob, g, pred.probability);
      }
      const Shape& s = x.shape();
      SRMDS_CHECK(n.overlays.empty() || static_cast<int64_t>(n.overlays.size()) == s.n(),
                  "segment: " << n.overlays.size() << " overlay names for " << s.n() << " slices of '" << path << "'");
      const int64_t hw = s.h() * s.w();
      std::vector<uint8_t> m(static_cast<size_t>(hw));
      for (size_t k = 0; k < n.overlays.size(); ++k) {
        const int64_t off = static_cast<int64_t>(k) * hw;
        for (int64_t j = 0; j < hw; ++j) m[static_cast<size_t>(j)] = p[off + j] >= 0.5f ? 1 : 0;
        io::write_overlay_png(n.overlays[k], x.data() + off, static_cast<int>(s.h()), static_cast<int>(s.w()), m.data());
        ++pngs;
      }
      const std::vector<std::string> slice_files = in.kind == InputKind::Nifti ? std::vector<std::string>{} : in.slice_files;
      burdens.push_back(lesion_burden(pred.mask, g, in.has_spacing, slice_files, path));
      const LesionBurden& b = burdens.back();
      char line[512];
      std::snprintf(line, sizeof line, "segmented %s (%s, %lld x %lld x %lld) with %s: %lld lesion voxels (%.2f %%) -> %s",
                    path.c_str(), input_kind_name(in.kind), static_cast<long long>(g.ni), static_cast<long long>(g.nj),
                    static_cast<long long>(g.nk), o.model.c_str(), static_cast<long long>(b.lesion_voxels),
                    100.0 * b.lesion_fraction, n.mask.c_str());
      lines.push_back(line);
      lines.push_back(format_lesion_burden(b, g.nk > 1 ? 20 : 0));
    }
    if (!o.report.empty()) {
      std::string text;
      if (burdens.size() == 1) {
        nlohmann::json j = nlohmann::json::parse(lesion_burden_json(burdens.front()));
        j["model"] = o.model;
        text = j.dump(2) + "\n";
      } else {
        nlohmann::json all = nlohmann::json::array();
        int64_t total = 0;
        for (const LesionBurden& b : burdens) {
          all.push_back(nlohmann::json::parse(lesion_burden_json(b)));
          total += b.lesion_voxels;
        }
        text = nlohmann::json{{"model", o.model}, {"input", o.input}, {"images", all}, {"lesion_pixels", total}}.dump(2) + "\n";
      }
      io::write_bytes_atomic(o.report, text.data(), text.size());
    }
    outputs.commit();
    folders.commit();

    for (const std::string& l : lines) std::printf("%s%s", l.c_str(), (!l.empty() && l.back() == '\n') ? "" : "\n");
    std::printf("mask: %s\n", o.output.c_str());
    if (!o.prob_out.empty()) std::printf("probability: %s\n", o.prob_out.c_str());
    if (pngs > 0) std::printf("overlays: %lld PNG files in %s\n", static_cast<long long>(pngs), o.png_dir.c_str());
    if (!o.report.empty()) std::printf("report: %s\n", o.report.c_str());
  });
}

}  // namespace

void add_segment_command(CLI::App& app) {
  auto o = std::make_shared<SegmentOptions>();
  CLI::App* sub = app.add_subcommand("segment", "Segment the lesions of a CT volume, DICOM series or slice images");
  sub->add_option("--model", o->model, "Weight file or training checkpoint (.safetensors)")->required();
  sub->add_option("--input", o->input,
                  "CT: NIfTI (.nii, .nii.gz) in HU, a DICOM series (folder or one file), a PNG/JPEG slice or a "
                  "folder of slices")
      ->required();
  sub->add_option("--output", o->output, "Mask to write: .nii/.nii.gz (uint8) for volumes, .png for a slice, a folder "
                                         "for a folder of slices")
      ->required();
  sub->add_option("--prob-out", o->prob_out, "Probability to write (float32 NIfTI; PNG of 255 p for slices)");
  sub->add_option("--png-dir", o->png_dir, "Folder for one PNG overlay per slice");
  sub->add_option("--report", o->report, "Lesion burden as JSON (volume in mL, per-slice area and fraction)");
  sub->add_option("--series", o->series, "SeriesInstanceUID to read from a DICOM folder holding several series");
  sub->add_flag("--png16-hu", o->png16_hu, "16-bit PNG slices hold HU + 32768 (else min-max per slice)");
  sub->add_flag("--tta", o->tta, "Test-time augmentation: average the probabilities of each slice and its mirror image");
  sub->add_option("--batch", o->batch)->capture_default_str();
  sub->add_option("--device", o->device)->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  sub->add_option("--precision", o->precision,
                  "bf16: the fused network's 3x3 convolutions in bf16 with fp32 accumulation (CPU only)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  sub->callback([o] { run_segment(*o); });
}

}  // namespace srmds::cli
