// The segmentation pipeline of one input (see infer/segment_file.hpp).
#include "srmds/infer/segment_file.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "srmds/core/text.hpp"
#include "srmds/data/image_pairs.hpp"
#include "srmds/infer/output_plan.hpp"
#include "srmds/io/atomic_file.hpp"
#include "srmds/io/created_folders.hpp"
#include "srmds/io/dicom_seg.hpp"
#include "srmds/io/nifti.hpp"
#include "srmds/io/png.hpp"
#include "srmds/version.hpp"

namespace srmds {

namespace {

namespace fs = std::filesystem;

// Throws RequestError with a message built from a stream expression.
#define SRMDS_REQUEST(msg)                       \
  do {                                           \
    std::ostringstream srmds_request_os_;        \
    srmds_request_os_ << msg;                    \
    throw RequestError(srmds_request_os_.str()); \
  } while (0)

bool ends_with_ci(const std::string& s, const std::string& ext) {
  if (s.size() <= ext.size()) return false;
  for (size_t i = 0; i < ext.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - ext.size() + i])) != ext[i]) return false;
  return true;
}

// An output file: its folder exists and it is not a folder.
void require_file_output(const std::string& path, const char* option) {
  if (path.empty()) SRMDS_REQUEST(option << ": empty file name");
  std::error_code ec;
  const fs::path dir = fs::path(path).has_parent_path() ? fs::path(path).parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    SRMDS_REQUEST(option << ": the folder '" << dir.string() << "' of '" << path << "' does not exist");
  if (fs::is_directory(path, ec)) SRMDS_REQUEST(option << ": '" << path << "' is a folder");
}

// A mask or probability file: .png for a 2-D input, else .nii or .nii.gz.
void require_extension(const std::string& path, const char* option, bool png) {
  require_file_output(path, option);
  const bool ok = png ? ends_with_ci(path, ".png") : (ends_with_ci(path, ".nii") || ends_with_ci(path, ".nii.gz"));
  if (!ok)
    SRMDS_REQUEST(option << ": '" << path << "' must end in " << (png ? ".png (the input is a 2-D image)" : ".nii or .nii.gz"));
}

// An output folder for a folder of slices: never named like a file, not a file, its parent exists.
void require_folder_output(const std::string& path, const char* option) {
  std::error_code ec;
  if (path.empty()) SRMDS_REQUEST(option << ": empty folder name");
  for (const char* ext : {".nii", ".nii.gz", ".png", ".jpg", ".jpeg", ".json"})
    if (ends_with_ci(path, ext))
      SRMDS_REQUEST(option << ": '" << path << "' names a file, but a folder of images gives a folder of outputs "
                           << "(one <name>.png per image): name a folder");
  if (fs::exists(path, ec) && !fs::is_directory(path, ec))
    SRMDS_REQUEST(option << ": '" << path << "' is a file; a folder of images needs an output folder");
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    SRMDS_REQUEST(option << ": the folder '" << parent.string() << "' of '" << path << "' does not exist");
}

void request_error(const std::string& message) { throw RequestError(message); }

SegmentTargets targets_for(const SegmentRequest& r, bool folder, const std::string& path, int64_t slices) {
  SegmentTargets t;
  t.input = path;
  const std::string stem = fs::path(path).stem().string();
  t.mask = folder ? (fs::path(r.mask) / (stem + ".png")).string() : r.mask;
  if (!r.probability.empty()) t.probability = folder ? (fs::path(r.probability) / (stem + ".png")).string() : r.probability;
  if (!r.overlay_dir.empty()) {
    if (folder) {
      t.overlays.push_back((fs::path(r.overlay_dir) / (stem + ".png")).string());
    } else {
      for (int64_t k = 0; k < slices; ++k) {
        char name[32];
        std::snprintf(name, sizeof name, "slice_%04lld.png", static_cast<long long>(k));
        t.overlays.push_back((fs::path(r.overlay_dir) / name).string());
      }
    }
  }
  return t;
}

// The weight files of a request for the console: "m.safetensors", or "m.safetensors and 2 more (an ensemble)".
std::string model_names(const SegmentRequest& r) {
  if (r.ensemble.empty()) return r.model;
  return r.model + " and " + std::to_string(r.ensemble.size()) + " more (an ensemble)";
}

std::vector<uint8_t> to_bytes(const std::vector<float>& p) {
  std::vector<uint8_t> out(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    const float v = p[i] < 0 ? 0.0f : (p[i] > 1 ? 1.0f : p[i]);
    out[i] = static_cast<uint8_t>(std::lround(255.0 * v));
  }
  return out;
}

}  // namespace

SegmentPlan plan_segmentation(const SegmentRequest& r) {
  if (r.batch < 1) SRMDS_REQUEST("segment: batch " << r.batch << " must be at least 1");
  SegmentPlan plan;
  plan.request = r;
  plan.folder = is_image_folder(r.input);
  // DICOM SEG (io/dicom_seg.hpp): the mask named .dcm, or dicom_seg beside a NIfTI mask.
  const bool mask_is_seg = ends_with_ci(r.mask, ".dcm");
  const std::string seg = mask_is_seg ? r.mask : r.dicom_seg;
  const char* seg_option = mask_is_seg ? "--output" : "--dicom-seg";
  if (mask_is_seg && !r.dicom_seg.empty())
    SRMDS_REQUEST("--output '" << r.mask << "' names a DICOM SEG (.dcm) and --dicom-seg '" << r.dicom_seg
                               << "' another: give one of them (or a NIfTI --output beside --dicom-seg)");
  if (!seg.empty()) {
    if (!io::dicom_seg_supported()) SRMDS_REQUEST(seg_option << " '" << seg << "': " << io::dicom_seg_unsupported_reason());
    const bool dicom = !plan.folder && input_kind(r.input) == InputKind::Dicom;
    if (!dicom)
      SRMDS_REQUEST(seg_option << " '" << seg << "': a DICOM Segmentation references the DICOM series it was made from, "
                               << "but --input '" << r.input << "' is "
                               << (plan.folder ? "a folder of images" : input_kind_name(input_kind(r.input)))
                               << "; give a DICOM series (a folder or one of its files), or a NIfTI/PNG --output");
    require_file_output(seg, seg_option);
    if (!ends_with_ci(seg, ".dcm")) SRMDS_REQUEST(seg_option << ": '" << seg << "' must end in .dcm");
  }
  if (plan.folder) {
    require_folder_output(r.mask, "--output");
    if (!r.probability.empty()) require_folder_output(r.probability, "--prob-out");
  } else {
    const bool png = input_kind(r.input) == InputKind::Image2d;
    if (!mask_is_seg) require_extension(r.mask, "--output", png);
    if (!r.probability.empty()) require_extension(r.probability, "--prob-out", png);
  }
  if (!r.report.empty()) require_file_output(r.report, "--report");
  const std::vector<NamedFile> named_outputs = {
      {"--output", r.mask}, {"--prob-out", r.probability}, {"--png-dir", r.overlay_dir}, {"--report", r.report},
      {"--dicom-seg", r.dicom_seg}};
  std::vector<NamedFile> inputs = {{"--model", r.model}, {"--input", r.input}};
  for (const std::string& m : r.ensemble) inputs.push_back({"--model", m});
  const auto refuse = [](const std::string& m) { request_error("segment: " + m); };
  refuse_same_files(inputs, named_outputs, refuse);
  if (!plan.folder)
    for (const std::string& path : {r.mask, r.probability, r.dicom_seg})
      if (!path.empty()) io::require_replaceable_file(path);
  if (!r.report.empty()) io::require_replaceable_file(r.report);
  const std::vector<std::string> files = plan.folder ? list_image_files(r.input) : std::vector<std::string>{r.input};

  // A volume is read now: its slice count names the overlays and its slice files go into the
  // report. Then every name the run writes is checked at once.
  if (!plan.folder) plan.volume = read_input_volume(r.input, r.input_options);
  OutputPlan outputs;
  for (const std::string& path : files) {
    if (plan.folder) inputs.push_back({"the input image", path});
    plan.inputs.push_back(targets_for(r, plan.folder, path, plan.volume ? plan.volume->volume.geometry.nk : 1));
    if (!seg.empty()) {
      plan.inputs.back().dicom_seg = seg;
      if (mask_is_seg) plan.inputs.back().mask.clear();
    }
    const SegmentTargets& t = plan.inputs.back();
    if (plan.folder) outputs.add("--output (the mask of '" + path + "')", t.mask);
    if (plan.folder && !t.probability.empty()) outputs.add("--prob-out (the probability of '" + path + "')", t.probability);
    for (const std::string& png : t.overlays) outputs.add("--png-dir (an overlay of '" + path + "')", png);
  }
  outputs.check(inputs, named_outputs, refuse);
  if (!seg.empty()) {  // every slice must be one a SEG can reference (nothing is written yet)
    const io::NiftiGeometry& g = plan.volume->volume.geometry;
    io::check_dicom_seg_source(plan.volume->slice_files, g.nj, g.ni);
  }
  if (!r.report.empty()) {
    std::vector<std::string> reported = {r.model, r.input};
    reported.insert(reported.end(), r.ensemble.begin(), r.ensemble.end());
    reported.insert(reported.end(), files.begin(), files.end());
    if (plan.volume) reported.insert(reported.end(), plan.volume->slice_files.begin(), plan.volume->slice_files.end());
    for (const std::string& p : reported)
      if (!is_utf8(p))
        SRMDS_REQUEST("--report: the name of '" << escaped_name(p) << "' is not UTF-8, which a JSON file cannot hold; "
                                                << "rename it or leave out --report");
  }
  return plan;
}

struct SegmentWriter::State {
  SliceDataOptions data_options;
  io::CreatedFolders folders;
  io::AtomicBatch batch;  // nothing appears until commit(); destroyed uncommitted: nothing left
  InputVolume current;
  Tensor<float, Cpu> x;
  SegmentResult result;
};

SegmentWriter::SegmentWriter(SegmentPlan& plan, const NetConfig& config) : m_plan(plan) {
  SRMDS_CHECK(config.in_channels == 1, "segment: the network takes " << config.in_channels << " input channels; CT has 1");
  auto state = std::make_unique<State>();
  state->data_options = SliceDataOptions::from_config(config);
  const SegmentRequest& r = plan.request;
  if (plan.folder) {
    state->folders.add(r.mask);
    if (!r.probability.empty()) state->folders.add(r.probability);
  }
  if (!r.overlay_dir.empty()) state->folders.add(r.overlay_dir);
  m_state = std::move(state);
}

SegmentWriter::~SegmentWriter() = default;

const Tensor<float, Cpu>& SegmentWriter::model_input(size_t i) {
  SRMDS_CHECK(i < size(), "SegmentWriter: input " << i << " of " << size());
  State& s = *m_state;
  s.current = m_plan.volume && i == 0 ? std::move(*m_plan.volume)
                                      : read_input_volume(m_plan.inputs[i].input, m_plan.request.input_options);
  for (const std::string& w : s.current.warnings) {
    s.result.warnings.push_back(w);
    if (m_plan.request.on_warning) m_plan.request.on_warning(w);
  }
  s.x = input_to_model(s.current, s.data_options);
  return s.x;
}

void SegmentWriter::write(size_t i, const Tensor<float, Cpu>& p) {
  State& s = *m_state;
  const SegmentTargets& t = m_plan.inputs[i];
  const InputVolume& in = s.current;
  const io::NiftiGeometry& g = in.volume.geometry;
  const VolumePrediction pred = prediction_to_volume(p, g);
  if (in.kind == InputKind::Image2d) {
    std::vector<uint8_t> m(pred.mask.size());
    for (size_t j = 0; j < m.size(); ++j) m[j] = pred.mask[j] ? 255 : 0;
    io::write_gray8_png(t.mask, m.data(), static_cast<int>(g.nj), static_cast<int>(g.ni));
    if (!t.probability.empty())
      io::write_gray8_png(t.probability, to_bytes(pred.probability).data(), static_cast<int>(g.nj), static_cast<int>(g.ni));
  } else {
    if (!t.mask.empty()) io::write_nifti_mask(t.mask, g, pred.mask);
    if (!t.probability.empty()) io::write_nifti_float(t.probability, g, pred.probability);
    if (!t.dicom_seg.empty())
      io::write_dicom_seg(t.dicom_seg, in.slice_files, g.nj, g.ni, pred.mask,
                          std::string("COVID-19 lesions by srmds ") + srmds::version());
  }
  const Shape& xs = s.x.shape();
  SRMDS_CHECK(t.overlays.empty() || static_cast<int64_t>(t.overlays.size()) == xs.n(),
              "segment: " << t.overlays.size() << " overlay names for " << xs.n() << " slices of '" << t.input << "'");
  const int64_t hw = xs.h() * xs.w();
  std::vector<uint8_t> m(static_cast<size_t>(hw));
  for (size_t k = 0; k < t.overlays.size(); ++k) {
    const int64_t off = static_cast<int64_t>(k) * hw;
    for (int64_t j = 0; j < hw; ++j) m[static_cast<size_t>(j)] = p[off + j] >= 0.5f ? 1 : 0;
    io::write_overlay_png(t.overlays[k], s.x.data() + off, static_cast<int>(xs.h()), static_cast<int>(xs.w()), m.data());
    ++s.result.overlays;
  }
  const std::vector<std::string> slice_files = in.kind == InputKind::Nifti ? std::vector<std::string>{} : in.slice_files;
  s.result.burdens.push_back(lesion_burden(pred.mask, g, in.has_spacing, slice_files, t.input));
  const LesionBurden& b = s.result.burdens.back();
  char line[512];
  std::snprintf(line, sizeof line, "segmented %s (%s, %lld x %lld x %lld) with %s: %lld lesion voxels (%.2f %%) -> %s",
                t.input.c_str(), input_kind_name(in.kind), static_cast<long long>(g.ni), static_cast<long long>(g.nj),
                static_cast<long long>(g.nk), model_names(m_plan.request).c_str(), static_cast<long long>(b.lesion_voxels),
                100.0 * b.lesion_fraction, (t.mask.empty() ? t.dicom_seg : t.mask).c_str());
  s.result.summary.push_back(line);
  s.result.summary.push_back(format_lesion_burden(b, g.nk > 1 ? 20 : 0));
}

SegmentResult SegmentWriter::commit() {
  State& s = *m_state;
  SRMDS_CHECK(s.result.burdens.size() == size(), "SegmentWriter: " << s.result.burdens.size() << " of " << size()
                                                                    << " inputs written before commit");
  const SegmentRequest& r = m_plan.request;
  if (!r.report.empty()) {
    std::vector<std::string> ensemble;
    if (!r.ensemble.empty()) {
      ensemble.push_back(r.model);
      ensemble.insert(ensemble.end(), r.ensemble.begin(), r.ensemble.end());
    }
    const std::string text = segment_report_json(s.result.burdens, r.model, r.input, ensemble);
    io::write_bytes_atomic(r.report, text.data(), text.size());
  }
  s.batch.commit();
  s.folders.commit();
  return std::move(s.result);
}

}  // namespace srmds
