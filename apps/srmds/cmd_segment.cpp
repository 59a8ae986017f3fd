// srmds segment --model M[,M2..] --input CT --output MASK [--prob-out P] [--png-dir D] [--report R.json]
// [--dicom-seg SEG.dcm]:
// segments every slice of an input (infer/segment.hpp) and reports the lesion burden (SPEC §8).
// Several --model files are an ensemble: every output is of their mean probability (infer/ensemble.hpp).
//   NIfTI volume or DICOM series (a folder, or any file of it; --series picks one of several):
//     the mask (uint8, 1 = lesion, .nii/.nii.gz) and the probability p = sigmoid(z_0) (float32)
//     have the input's dimensions and geometry (for DICOM the NIfTI geometry of the series,
//     io/dicom.hpp, so the mask lies on the series in any viewer);
//   PNG/JPEG slice: the mask is a PNG (0/255) of the input's size, --prob-out a PNG of 255 p;
//   folder of PNG/JPEG slices: --output (and --prob-out) are folders receiving <stem>.png each.
//   DICOM series, --output named .dcm (or --dicom-seg beside a NIfTI mask): a DICOM Segmentation
//     object referencing the series (io/dicom_seg.hpp; a build without DCMTK refuses it).
// Slices of any size are resized to the model's input size and the results resized back (nearest
// for the mask, bilinear for p). --png-dir writes one overlay per slice at model size (red outline:
// the predicted lesions). The lesion burden (infer/lesion_burden.hpp: volume in mL, per-slice area
// and fraction, slices with lesions; pixels only for 2-D images) is printed and, with --report,
// written as JSON. The pipeline is the library's (infer/segment_file.hpp): every output name is
// checked first, every file is written to a hidden temporary file and all are renamed together, so a
// failing or interrupted run leaves the user's files as they were. --precision bf16 (CPU) runs the fused form with its 3x3
// convolutions in bf16 with fp32 accumulation (a training-form file is fused first; nets/precision.hpp).
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "commands.hpp"
#include "shared_options.hpp"
#include "inference_errors.hpp"
#include "load_models.hpp"
#include "srmds/infer/segment_file.hpp"

namespace srmds::cli {

namespace {

struct SegmentOptions {
  std::vector<std::string> models;
  std::string input, output, prob_out, png_dir, report, series, device = "cpu", precision = "fp32";
  std::string dicom_seg;
  int batch = 8;
  bool png16_hu = false, tta = false;
};

bool is_dicom_seg_name(const std::string& path) {
  if (path.size() < 4) return false;
  std::string ext = path.substr(path.size() - 4);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".dcm";
}

void run_segment(const SegmentOptions& o) {
  if (o.batch < 1 || o.batch > 4096) SRMDS_USAGE("segment: --batch must be in [1, 4096], got " << o.batch);
  const Precision precision = parse_precision(o.precision);
  if (precision == Precision::Bf16 && o.device != "cpu")
    SRMDS_USAGE("segment: --precision bf16 runs on the CPU only (--device cpu)");
  SegmentRequest r;
  r.input = o.input;
  r.mask = o.output;
  r.probability = o.prob_out;
  r.overlay_dir = o.png_dir;
  r.report = o.report;
  r.dicom_seg = o.dicom_seg;
  const std::vector<std::string> models = file_list(o.models, "--model");
  r.model = models.front();
  r.ensemble.assign(models.begin() + 1, models.end());
  r.input_options.dicom_series = o.series;
  r.input_options.png16_hu = o.png16_hu;
  r.batch = o.batch;
  r.tta = o.tta;
  r.on_warning = [](const std::string& w) { print_warnings({w}); };
  SegmentPlan plan = plan_segmentation(r);  // every name checked (exit 2), a volume read, before the model

  with_device(o.device, [&](auto& ctx) {
    using D = device_of_t<decltype(ctx)>;
    std::vector<SrmdsNet<float, D>> nets = load_models(ctx, models, precision);
    const std::string names = join_names(models);
    const SegmentResult res = naming_inputs(names, "segment: segmenting '" + o.input + "' with '" + names + "'",
                                            "try a smaller --batch than " + std::to_string(o.batch),
                                            [&] { return run_segmentation(ctx, nets, plan); });
    for (const std::string& l : res.summary) std::printf("%s%s", l.c_str(), (!l.empty() && l.back() == '\n') ? "" : "\n");
    std::printf("%s: %s\n", is_dicom_seg_name(o.output) ? "DICOM SEG" : "mask", o.output.c_str());
    if (!o.dicom_seg.empty()) std::printf("DICOM SEG: %s\n", o.dicom_seg.c_str());
    if (!o.prob_out.empty()) std::printf("probability: %s\n", o.prob_out.c_str());
    if (res.overlays > 0) std::printf("overlays: %lld PNG files in %s\n", static_cast<long long>(res.overlays), o.png_dir.c_str());
    if (!o.report.empty()) std::printf("report: %s\n", o.report.c_str());
  });
}

}  // namespace

void add_segment_command(CLI::App& app) {
  auto o = std::make_shared<SegmentOptions>();
  CLI::App* sub = app.add_subcommand("segment", "Segment the lesions of a CT volume, DICOM series or slice images");
  add_model_option(sub, o->models);
  sub->add_option("--input", o->input,
                  "CT: NIfTI (.nii, .nii.gz) in HU, a DICOM series (folder or one file), a PNG/JPEG slice or a "
                  "folder of slices")
      ->required();
  sub->add_option("--output", o->output, "Mask to write: .nii/.nii.gz (uint8) for volumes, .png for a slice, a folder "
                                         "for a folder of slices; .dcm for a DICOM series: a DICOM Segmentation "
                                         "object referencing it instead")
      ->required();
  sub->add_option("--prob-out", o->prob_out, "Probability to write (float32 NIfTI; PNG of 255 p for slices)");
  sub->add_option("--png-dir", o->png_dir, "Folder for one PNG overlay per slice");
  sub->add_option("--report", o->report, "Lesion burden as JSON (volume in mL, per-slice area and fraction)");
  sub->add_option("--dicom-seg", o->dicom_seg, "DICOM series input: also write the mask as a DICOM Segmentation "
                                               "object (.dcm) referencing the series");
  add_reader_options(sub, o->series, o->png16_hu);
  add_tta_flag(sub, o->tta);
  sub->add_option("--batch", o->batch)->capture_default_str();
  add_device_option(sub, o->device);
  add_precision_option(sub, o->precision);
  sub->callback([o] { run_segment(*o); });
}

}  // namespace srmds::cli
