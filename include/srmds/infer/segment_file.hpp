// The whole segmentation of one input, as `srmds segment` runs it (SPEC §8), for programs that embed
// srmds: a CT (NIfTI volume, DICOM series: a folder or one file of it, PNG/JPEG slice, or a folder of
// slices) -> the lesion mask, optionally the probability map, one overlay per slice and the lesion
// burden report, every file written atomically and all of them together (nothing is left when it
// fails or is stopped by a signal).
//
//   SegmentRequest r;  r.input = "ct.nii.gz";  r.mask = "mask.nii.gz";  r.model = "m.safetensors";
//   SegmentPlan plan = plan_segmentation(r);            // checks every name, reads a volume input
//   SegmentResult res = run_segmentation(ctx, net, plan);  // predicts, writes, commits
//   (segment_file(ctx, net, r) does both.)
//
// Outputs: for a volume the mask (uint8, 1 = lesion) and the probability p = sigmoid(z_0) (float32)
// are NIfTI files (.nii/.nii.gz) with the input's grid and geometry; for a slice PNGs of its size
// (mask 0/255, probability 255 p); for a folder of slices, folders of <stem>.png. Overlays (red
// outline: the prediction) are at model size: slice_<k>.png for a volume, <stem>.png per image. The
// report (lesion_burden.hpp, segment_report_json) names `model` (and an ensemble's files). Slices of any size are resized to
// the network's input size and back (nearest for the mask, bilinear for p).
//
// plan_segmentation throws RequestError (the CLI's exit 2) for a name problem, before anything is
// read or written: an output of the wrong kind or extension, a missing folder, an output that is an
// input (`model` included), lies inside an input folder or shares a file with another output
// (infer/output_plan.hpp), and, with a report, an input name that is not UTF-8. Errors name the
// request's fields by the CLI's options (--output, --prob-out, --png-dir, --report, --dicom-seg).
// A DICOM SEG request (dicom_seg, or a mask named .dcm) for an input that is not a DICOM series, or in
// a build without DCMTK, is a RequestError; a source series that a SEG cannot reference (no SOP or
// Frame of Reference UID, a non-CT slice: io/dicom_seg.hpp) an srmds::Error, both before anything
// is written.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "srmds/data/input_volume.hpp"
#include "srmds/infer/lesion_burden.hpp"
#include "srmds/infer/ensemble.hpp"
#include "srmds/infer/segment.hpp"

namespace srmds {

struct SegmentRequest {
  std::string input;        // the CT
  std::string mask;         // the mask to write (a folder for a folder of slices)
  std::string probability;  // optional: the probability map (a folder for a folder of slices)
  std::string overlay_dir;  // optional: a folder for one overlay PNG per slice
  std::string report;       // optional: the lesion burden as JSON
  // optional: the mask as a DICOM Segmentation object (io/dicom_seg.hpp) referencing the input
  // series, beside `mask`; a `mask` named *.dcm is written as one instead of NIfTI (then leave this
  // empty). Only for a DICOM series input, and only in a build with DCMTK (io::dicom_seg_supported).
  std::string dicom_seg;
  std::string model;        // the weight file: never overwritten, named in the report
  // optional: further weight files of an ensemble with `model` (infer/ensemble.hpp), run by
  // run_segmentation with a network for each of model, ensemble[0], ...; never overwritten and
  // named in the report ("ensemble": every file) too
  std::vector<std::string> ensemble;
  InputOptions input_options;
  int batch = 8;     // images per forward pass
  bool tta = false;  // average each slice's prediction with that of its mirror image
  std::function<void(const std::string&)> on_warning;  // a reader's warning, as it comes (also in the result)
};

// What a run writes for one input.
struct SegmentTargets {
  std::string input, mask, probability;
  std::string dicom_seg;              // the DICOM SEG to write, or empty (mask empty when it replaces it)
  std::vector<std::string> overlays;  // one per slice, or none
};

struct SegmentPlan {
  SegmentRequest request;
  bool folder = false;                 // the input is a folder of slices
  std::vector<SegmentTargets> inputs;  // in order
  std::optional<InputVolume> volume;   // a volume input, already read
};

struct SegmentResult {
  std::vector<LesionBurden> burdens;  // one per input
  std::vector<std::string> summary;   // printable lines: what was segmented, the burden
  std::vector<std::string> warnings;  // the readers' (uneven DICOM spacing, stray files, ...)
  int64_t overlays = 0;               // overlay files written
};

SegmentPlan plan_segmentation(const SegmentRequest& request);

// The writing side of a run, without the network: the CLI and run_segmentation drive it.
class SegmentWriter {
public:
  SegmentWriter(SegmentPlan& plan, const NetConfig& config);  // creates the output folders
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;
  size_t size() const { return m_plan.inputs.size(); }
  const Tensor<float, Cpu>& model_input(size_t i);  // reads input i: its model-size slices (N, 1, H, W)
  void write(size_t i, const Tensor<float, Cpu>& probability);  // p of model_input(i): its outputs
  SegmentResult commit();  // the report, then every file renamed into place

private:
  struct State;
  SegmentPlan& m_plan;
  std::unique_ptr<State> m_state;
};

template <class T, class D>
SegmentResult run_segmentation(Context<D>& ctx, SrmdsNet<T, D>& net, SegmentPlan& plan) {
  SRMDS_CHECK(plan.request.ensemble.empty(), "segment: the request names an ensemble of "
                                                 << 1 + plan.request.ensemble.size() << " weight files; one network given");
  SegmentWriter writer(plan, net.config());
  for (size_t i = 0; i < writer.size(); ++i) {
    const Tensor<float, Cpu>& x = writer.model_input(i);
    writer.write(i, predict_probability(ctx, net, x, plan.request.batch, plan.request.tta));
  }
  return writer.commit();
}

// An ensemble: nets[0] for request.model, nets[1 + m] for request.ensemble[m] (infer/ensemble.hpp:
// their mean probabilities).
template <class T, class D>
SegmentResult run_segmentation(Context<D>& ctx, std::vector<SrmdsNet<T, D>>& nets, SegmentPlan& plan) {
  SRMDS_CHECK(nets.size() == 1 + plan.request.ensemble.size(),
              "segment: " << nets.size() << " networks for " << 1 + plan.request.ensemble.size() << " weight files");
  SegmentWriter writer(plan, nets.front().config());
  for (size_t i = 0; i < writer.size(); ++i) {
    const Tensor<float, Cpu>& x = writer.model_input(i);
    writer.write(i, predict_probability(ctx, nets, x, plan.request.batch, plan.request.tta));
  }
  return writer.commit();
}

template <class T, class D>
SegmentResult segment_file(Context<D>& ctx, SrmdsNet<T, D>& net, const SegmentRequest& request) {
  SegmentPlan plan = plan_segmentation(request);
  return run_segmentation(ctx, net, plan);
}

}  // namespace srmds
