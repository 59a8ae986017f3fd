// ONNX export of the fused inference network (SPEC §8 `srmds export`), built with the ONNX protobuf
// library (Debian libonnx-dev; the build option SRMDS_WITH_ONNX, AUTO = on where it is found).
//
// The graph is the fused form's eval-mode forward, head 0 only (no deep-supervision heads):
//   input  "image"                   (N, in_channels, H, W) float32: the windowed slice in [0, 1]
//   output "probability" (default)   (N, 1, H, W) float32: p = sigmoid(z_0), what `srmds segment`
//          or "logits"                writes with --prob-out (at model size); or z_0 itself
// N, H and W are fixed (batch, height, width > 0) or dynamic (0: symbolic "N", "H", "W"; H and W
// must still be multiples of 16 at run time). Opset 17 (ai.onnx), IR version 8: the newest opset of
// ONNX 1.12 (Debian's checker), the first with LayerNormalization (PSA) and the last whose
// ReduceMean / ReduceMax take their axes as attributes; TensorRT 8.6+, OpenVINO 2022.3+ and ONNX
// Runtime 1.12+ load it. Ops per block (y = Conv3x3(x; K, B) with pads 1):
//   se    GlobalAveragePool, Conv 1x1 (fc1), Relu, Conv 1x1 (fc2), Sigmoid, Mul
//   sge   Reshape to (N G, C/G, H, W), GlobalAveragePool, Mul, ReduceSum (axis 1), the unbiased
//         standard deviation over H W (GlobalAveragePool, Sub, Mul, Sqrt, Add, Div; the pixel count
//         from Shape / ReduceProd / Cast when H, W are dynamic), Reshape, Mul, Add, Sigmoid, Mul
//   cbam  GlobalAveragePool, GlobalMaxPool, shared Conv 1x1 fc1 / Relu / fc2, Add, Sigmoid, Mul,
//         ReduceMean and ReduceMax over channels, Concat, Conv 7x7 (pads 3), Sigmoid, Mul
//   psa   the O(C H W) form of ops/math/psa.hpp: Conv 1x1 (ch_wq), Reshape, Softmax over H W, MatMul,
//         Conv 1x1 (ch_wv, ch_wz), LayerNormalization, Sigmoid; GlobalAveragePool, Conv 1x1 (sp_wq),
//         Softmax over channels, MatMul with sp_wv's weight and bias, Sigmoid; y * (a + m)
//   none  -
// then Relu; MaxPool 2x2 stride 2, Resize (linear, x2, coordinate_transformation_mode align_corners
// or half_pixel, as the config's align_corners), Concat (skip first), head Conv 1x1, Sigmoid.
// Initializers keep the weight file's tensor names (SPEC §6). metadata_props: see onnx_metadata().
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "srmds/core/device.hpp"
#include "srmds/nets/srmds_net.hpp"

namespace srmds::io {

enum class OnnxOutput { Probability, Logits };

inline constexpr int kOnnxOpset = 17;
inline constexpr int64_t kOnnxIrVersion = 8;

struct OnnxExportOptions {
  int64_t batch = 1;   // N; 0: dynamic
  int64_t height = 0;  // H; 0: dynamic (with width 0 too)
  int64_t width = 0;   // W; 0: dynamic
  OnnxOutput output = OnnxOutput::Probability;
  // Added to metadata_props as given (e.g. "weights.<key>" for each metadata key of the weight file).
  std::map<std::string, std::string> extra_metadata;
};

// "probability" or "logits": the graph output's name.
const char* onnx_output_name(OnnxOutput o);

// Whether this build can export (SRMDS_WITH_ONNX); without it the functions below throw Error.
bool onnx_export_available();

// The metadata_props the export writes (besides opts.extra_metadata), from the config and options:
//   srmds.version, srmds.form ("fused"), srmds.config (config JSON, SPEC §6), srmds.attention,
//   srmds.align_corners, srmds.output ("probability" | "logits"), srmds.opset,
//   input.name, input.shape / output.name, output.shape ("N,1,H,W" with fixed values filled in),
//   preprocessing.window ("[lo, hi]" in HU or "min-max"), preprocessing.scale (the formula),
//   preprocessing.input_size ("HxW" the model was trained at), preprocessing.resize,
//   preprocessing.layout, postprocessing.threshold ("0.5"), postprocessing.lesion_labels.
std::map<std::string, std::string> onnx_metadata(const NetConfig& cfg, const OnnxExportOptions& opts);

// The serialised ModelProto of a fused network (srmds::Error for the training form: fuse first;
// for options out of range: N < 0, only one of H, W dynamic, sizes not multiples of 16).
std::string onnx_model_bytes(SrmdsNet<float, Cpu>& net, const OnnxExportOptions& opts);

// onnx_model_bytes written to `path` atomically (io/atomic_file.hpp).
void export_onnx(SrmdsNet<float, Cpu>& net, const OnnxExportOptions& opts, const std::string& path);

}  // namespace srmds::io
