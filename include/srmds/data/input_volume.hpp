// Any CT input as a volume (SPEC §7): a NIfTI file, a DICOM series (a folder, or one file of it)
// or a 2-D PNG/JPEG slice, with its mask.
//
// Kind, from the path: a folder -> DICOM series; .nii / .nii.gz -> NIfTI; .png / .jpg / .jpeg ->
// 2-D image; any other file -> DICOM when its content looks like DICOM (else an error). A path
// that is neither a folder nor a regular file (a FIFO, a device) is an error, never opened.
// (A folder of PNG/JPEG images is a set of 2-D inputs: data/image_pairs.hpp expands it.)
//
// Intensity, i.e. how the model's window applies:
//   NIfTI, DICOM: Hounsfield units; the configured window (or min-max with `window none`);
//   8-bit images: taken as already windowed: x / 255, in [0, 1], whatever the configured window;
//   16-bit PNG: HU + 32768 when InputOptions::png16_hu (HU = v - 32768, then the configured
//   window), else min-max per image.
// 2-D images become 1-slice volumes (ni = W, nj = H, nk = 1) without spacing (has_spacing false,
// pixdim 1, no affine).
//
// Masks (read_mask_for): for a NIfTI or DICOM image a NIfTI label volume; when both carry an
// affine and the mask's grid is the image's with axes flipped or permuted (io/nifti_affine.hpp),
// its voxels are moved onto the image's grid (so a mask written by another tool lines up); any
// other size difference is an error naming both files, and a different affine on an equal grid
// a warning. Lesion labels: the volume label set (default {1, 2}; empty: any > 0). For a 2-D
// image a PNG/JPEG mask of the same size; lesion: label in the image label set, by default
// (empty set) any pixel > 0 -- for a JPEG mask any pixel >= 128, as lossy compression leaves
// small non-zero values around the edges.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "srmds/data/window.hpp"
#include "srmds/io/nifti.hpp"

namespace srmds {

enum class InputKind { Nifti, Dicom, Image2d };
enum class Intensity { Hounsfield, Unit, Raw };

struct InputOptions {
  std::string dicom_series;  // SeriesInstanceUID to read from a folder of several series
  bool png16_hu = false;     // 16-bit PNG values are HU + 32768
};

struct InputVolume {
  InputKind kind = InputKind::Nifti;
  Intensity intensity = Intensity::Hounsfield;
  io::NiftiVolume volume;                 // values (HU, x/255 or raw) and geometry
  bool has_spacing = true;                // false for 2-D images
  std::vector<std::string> slice_files;   // DICOM: the file of each slice k
  std::vector<std::string> warnings;
};

const char* input_kind_name(InputKind kind);  // "NIfTI", "DICOM", "image"
InputKind input_kind(const std::string& path);
InputVolume read_input_volume(const std::string& path, const InputOptions& options = {});

// The window to apply to this input given the configured one (see above).
Window input_window(const InputVolume& input, const Window& configured);

struct MaskVolume {
  io::NiftiVolume labels;          // on the image's grid (geometry = the image's)
  std::vector<int> lesion_labels;  // the set to apply (empty: any > 0)
  std::vector<std::string> warnings;
};

MaskVolume read_mask_for(const InputVolume& image, const std::string& mask_path, const std::vector<int>& volume_labels,
                         const std::vector<int>& image_labels);

}  // namespace srmds
