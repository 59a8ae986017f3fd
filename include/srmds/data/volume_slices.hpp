// One volume in and out of the model (SPEC §7, §8): model-size input slices of a NIfTI volume, and
// predicted slices mapped back to the volume's grid.
//
// volume_to_input: windowing over the whole volume, then each slice k (H = nj, W = ni) resized
// bilinearly to input_size unless it already has it -> (nk, 1, H, W).
// labels_to_target: lesion selection, then nearest resizing -> (nk, 1, H, W) in {0, 1}.
// input_to_model / mask_to_target: the same for any input kind (window and label set per input).
// prediction_to_volume: p (nk, 1, H, W) at model size -> the volume's in-plane size:
//     probability: bilinear;
//     mask (MaskResize::Nearest, SPEC §8): nearest resizing of (p >= 0.5), so the mask is exactly
//         p >= 0.5 wherever no resizing happened;
//     mask (MaskResize::ThresholdResized): (bilinear p) >= 0.5, consistent with the written p.
// Outputs are in NIfTI voxel order (ni * nj * nk, i fastest), ready for io::write_nifti_*.
#pragma once

#include <cstdint>
#include <vector>

#include "srmds/core/tensor.hpp"
#include "srmds/data/slice_dataset.hpp"
#include "srmds/io/nifti.hpp"

namespace srmds {

Tensor<float, Cpu> volume_to_input(const io::NiftiVolume& volume, const SliceDataOptions& options);   // (nk, 1, H, W)
Tensor<float, Cpu> labels_to_target(const io::NiftiVolume& labels, const SliceDataOptions& options);  // (nk, 1, H, W)

// The same for any input (data/input_volume.hpp): the window is input_window(input, options.window)
// (8-bit images x / 255, raw 16-bit PNG min-max), the lesion labels the mask's own set.
Tensor<float, Cpu> input_to_model(const InputVolume& input, const SliceDataOptions& options);  // (nk, 1, H, W)
Tensor<float, Cpu> mask_to_target(const MaskVolume& mask, const SliceDataOptions& options);    // (nk, 1, H, W)

enum class MaskResize { Nearest, ThresholdResized };

struct VolumePrediction {
  std::vector<float> probability;  // ni * nj * nk
  std::vector<uint8_t> mask;       // ni * nj * nk, 0 or 1
};

// probability: (nk, 1, H, W) with nk = geometry.nk, values p = sigmoid(z_0).
VolumePrediction prediction_to_volume(const Tensor<float, Cpu>& probability, const io::NiftiGeometry& geometry,
                                      MaskResize mask_resize = MaskResize::Nearest);

}  // namespace srmds
