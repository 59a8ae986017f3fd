// libFuzzer target: the safetensors parser (header JSON, dtypes, shapes, offsets) from bytes.
#include <cstdint>

#include "srmds/core/error.hpp"
#include "srmds/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const srmds::io::SafetensorsFile f = srmds::io::parse_safetensors(data, size, "fuzz.safetensors");
    (void)f;
  } catch (const srmds::Error&) {
  }
  return 0;
}
