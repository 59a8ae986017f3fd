// Synthetic chest-CT phantoms (SPEC §7), the embedded default data set.
//
// One axial slice (H x W pixels, any size >= 16; row 0 anterior) in Hounsfield units, built from
// normalised coordinates (u, v) in [-1, 1]^2 so that every size shows the same anatomy:
//   air -1000 outside the body; body ellipse of soft tissue ~40 HU with a subcutaneous fat rim
//   (~-100 HU) and a heart (~45 HU); two lungs ~-850 HU with smooth texture (+-25 HU) and vessels
//   (short bright segments, ~+30 HU); bone: vertebra (cortex ~700, marrow ~250 HU), sternum
//   (~400) and ribs (~500) along the body wall.
//   Lesions inside the lungs, on about 85 % of slices (1 to 4, varied size and position), each
//   with an irregular outline r(theta) = r0 (1 + sum_{k=2..5} a_k cos(k theta + phi_k)) and a soft
//   edge: ground-glass opacities -700..-300 HU (label 1) and consolidations -100..50 HU
//   (label 2); the label is set where the lesion weight is >= 0.5 (later lesions on top).
//   Gaussian noise with a per-slice sigma in [20, 40] HU; values rounded to integers and clipped
//   to [-1024, 3071] (so the slice equals its int16 NIfTI file).
// Deterministic: the same (height, width, seed) gives identical bytes (srmds::Rng only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace srmds {

struct PhantomSlice {
  int height = 0, width = 0;
  std::vector<float> hu;         // (H, W) row-major, integral HU values
  std::vector<uint8_t> labels;   // (H, W): 0 background, 1 ground-glass, 2 consolidation
  double noise_sigma = 0;        // HU
  int lesion_count = 0;
};

PhantomSlice generate_phantom(int height, int width, uint64_t seed);

struct PhantomFiles {
  std::string image;  // phantom_XXX_image.nii.gz: int16 HU
  std::string mask;   // phantom_XXX_mask.nii.gz: uint8 labels 0/1/2
};

// Writes `count` image/mask pairs into `dir` (created if missing) and returns their paths.
// Each volume holds `slices_per_volume` slices (default 1: one slice per file, nk = 1), slice k of
// volume v generated from seed phantom_slice_seed(seed, v, k); the slice's row y is the file's
// j = y and column x is i = x (H = nj, W = ni, io/nifti.hpp). Geometry: 350 mm field of view
// (pixdim 350 / size mm in-plane), 5 mm slices, io::make_nifti_geometry's affine (qform and sform).
// Files are written atomically; an error throws srmds::Error naming the file.
std::vector<PhantomFiles> write_phantom_dataset(const std::string& dir, int count, int size, uint64_t seed,
                                                int slices_per_volume = 1);

uint64_t phantom_slice_seed(uint64_t seed, int volume, int slice);

}  // namespace srmds
