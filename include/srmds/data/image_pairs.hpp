// Image/mask pairs as given on a command line (SPEC §7, §8): lists of files, DICOM folders, or
// folders of 2-D images paired by file stem.
//
// expand_input_pairs(images, masks): item i of `images` goes with item i of `masks` (the lists
// must have equal lengths). An item that is a folder holding PNG/JPEG files (is_image_folder) is
// a 2-D image set: its mask item must be a folder too, and each image pairs with the mask of the
// same file stem (name without its last extension: 07.jpg with 07.png); an image without a mask,
// a mask without an image, or two files of one stem in a folder is an error listing (up to five
// of) the names. Any other item (NIfTI file, DICOM folder or file, PNG/JPEG file) is one pair.
// Image folders are listed in file-name order (not recursively, hidden files skipped). A folder that
// also holds a DICOM file is a DICOM series, not an image folder (its reader warns about the stray
// images), so one PNG in a series folder never turns the series into a set of slices.
#pragma once

#include <string>
#include <vector>

namespace srmds {

struct InputPair {
  std::string image, mask;
};

bool is_image_folder(const std::string& path);
std::vector<std::string> list_image_files(const std::string& folder);
std::vector<InputPair> pair_by_stem(const std::string& image_folder, const std::string& mask_folder);
std::vector<InputPair> expand_input_pairs(const std::vector<std::string>& images, const std::vector<std::string>& masks);
// Images only (segment on a folder): a folder of images expands to its files, anything else stays.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs);

}  // namespace srmds
