// libFuzzer target: the network configuration JSON (the "config" metadata of every weight file).
// A config that parses must print back to JSON that parses to the same config.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "srmds/core/error.hpp"
#include "srmds/nets/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const srmds::NetConfig c = srmds::config_from_json(text);
    const std::string once = srmds::config_to_json(c);
    if (srmds::config_to_json(srmds::config_from_json(once)) != once) std::abort();
  } catch (const srmds::Error&) {
  }
  return 0;
}
