// segment_file: the whole `srmds segment` pipeline from a program that embeds srmds, in a few lines
// (infer/segment_file.hpp): any CT input (NIfTI, DICOM series, PNG/JPEG slice or a folder of them)
// -> the lesion mask, optionally the probability map and the lesion burden report, written
// atomically, with the same checks and errors as the CLI.
//
//   segment_file MODEL.safetensors INPUT MASK [PROBABILITY] [REPORT.json]
//
// MODEL may be a training-form file, a fused file or a training checkpoint.
#include <cstdio>
#include <string>

#include "srmds/core/error.hpp"
#include "srmds/infer/segment_file.hpp"
#include "srmds/io/weights.hpp"

int main(int argc, char** argv) {
  using namespace srmds;
  if (argc < 4 || argc > 6) {
    std::fprintf(stderr, "usage: segment_file MODEL.safetensors INPUT MASK [PROBABILITY] [REPORT.json]\n");
    return 2;
  }
  try {
    Context<Cpu> ctx;
    SegmentRequest request;
    request.model = argv[1];
    request.input = argv[2];
    request.mask = argv[3];
    if (argc > 4) request.probability = argv[4];
    if (argc > 5) request.report = argv[5];
    request.on_warning = [](const std::string& w) { std::fprintf(stderr, "warning: %s\n", w.c_str()); };
    SegmentPlan plan = plan_segmentation(request);  // checks every output name first
    SrmdsNet<float, Cpu> net = io::load_weights<float, Cpu>(ctx, request.model);
    const SegmentResult result = run_segmentation(ctx, net, plan);
    for (const std::string& line : result.summary) std::printf("%s\n", line.c_str());
    return 0;
  } catch (const RequestError& e) {
    std::fprintf(stderr, "segment_file: %s\n", e.what());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "segment_file: %s\n", e.what());
    return 1;
  }
}
