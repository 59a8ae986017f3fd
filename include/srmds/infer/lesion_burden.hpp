// Lesion burden of a segmented volume (SPEC §8 `segment --report`): how much lesion there is.
//
// For a mask m (ni * nj * nk voxels, i fastest, non-zero = lesion) on a grid with voxel size
// (dx, dy, dz) in mm (pixdim converted from the file's xyz units: m x 1000, um x 0.001,
// unknown taken as mm):
//     lesion voxels   V = sum m
//     lesion volume   V dx dy dz / 1000  mL
//     per slice k:    pixels P_k = sum over slice k of m, area P_k dx dy mm^2,
//                     fraction P_k / (ni nj) (of the whole slice)
//     slices with lesions: the k with P_k > 0.
// Without spacing (2-D images, or a pixdim that is not positive and finite) the areas and the
// volume are absent (NaN here, null in JSON) and only pixel counts are given.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "srmds/io/nifti.hpp"

namespace srmds {

struct SliceBurden {
  int64_t index = 0;
  std::string file;             // the slice's file (DICOM, images), "" otherwise
  int64_t lesion_pixels = 0;
  double lesion_area_mm2 = 0;   // NaN without spacing
  double lesion_fraction = 0;   // of the slice's pixels
};

struct LesionBurden {
  std::string input;
  int64_t ni = 0, nj = 0, nk = 0;
  bool has_spacing = false;
  std::array<double, 3> spacing_mm{0, 0, 0};
  int64_t lesion_voxels = 0;
  double lesion_volume_ml = 0;  // NaN without spacing
  double lesion_fraction = 0;   // of all voxels
  std::vector<SliceBurden> slices;           // every slice
  std::vector<int64_t> slices_with_lesions;  // indices k with lesion pixels
};

// mask: geometry.voxels() values. slice_files: empty or one per slice. has_spacing false forces
// pixels only.
LesionBurden lesion_burden(const std::vector<uint8_t>& mask, const io::NiftiGeometry& geometry, bool has_spacing,
                           const std::vector<std::string>& slice_files = {}, const std::string& input = "");

// The report as JSON text (one object; see README for the fields).
std::string lesion_burden_json(const LesionBurden& burden);
// `srmds segment --report`: for one input its burden with "model" added; for several (a folder of
// slices) {"model", "input", "images": [each burden], "lesion_pixels": their sum}; for an ensemble
// (`ensemble`: every weight file, `model` first) "ensemble": those files as well.
std::string segment_report_json(const std::vector<LesionBurden>& burdens, const std::string& model,
                                const std::string& input, const std::vector<std::string>& ensemble = {});
// A few lines for the console: totals, then one line per slice with lesions (at most
// max_slice_lines; 0: totals only).
std::string format_lesion_burden(const LesionBurden& burden, int max_slice_lines = 20);

}  // namespace srmds
