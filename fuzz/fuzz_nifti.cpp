// libFuzzer target: the NIfTI reader (header and voxels, .nii and .nii.gz by the first input byte).
// Any input must give a volume or srmds::Error, never a crash, leak or undefined behaviour.
#include <cstdint>

#include "fuzz_input_file.hpp"
#include "srmds/core/error.hpp"
#include "srmds/io/nifti.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool gz = (data[0] & 1) != 0;
  const std::string path = srmds::fuzz::input_file(data + 1, size - 1, gz ? ".nii.gz" : ".nii");
  try {
    const srmds::io::NiftiVolume v = srmds::io::read_nifti(path);
    (void)v;
  } catch (const srmds::Error&) {
  }
  return 0;
}
