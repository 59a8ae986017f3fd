// libFuzzer target: the PNG/JPEG reader (our structure checks, then stb's decoder). Any input must
// give a grey image or srmds::Error, never a crash, leak or undefined behaviour.
#include <cstdint>

#include "srmds/core/error.hpp"
#include "srmds/io/image2d.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const srmds::io::GreyImage image = srmds::io::decode_grey_image(data, size, "fuzz.png");
    (void)image;
  } catch (const srmds::Error&) {
  }
  return 0;
}
