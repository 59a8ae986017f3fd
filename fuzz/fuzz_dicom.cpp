// libFuzzer target: the DICOM reader (the strict walker of the encoding, then GDCM's parse and
// pixel decoding, rescaled to HU). Any input must give an image or srmds::Error, never a crash,
// leak or undefined behaviour.
#include <cstdint>

#include "srmds/core/error.hpp"
#include "srmds/io/dicom.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const srmds::io::DicomImage image = srmds::io::decode_dicom(data, size, "fuzz.dcm");
    (void)image;
  } catch (const srmds::Error&) {
  }
  return 0;
}
