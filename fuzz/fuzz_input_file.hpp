// Readers that take a path: the fuzz input is written to a file in memory-backed /dev/shm (or
// TMPDIR) under the given suffix, since the readers choose the format by extension.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace srmds::fuzz {

inline std::string input_file(const uint8_t* data, size_t size, const char* suffix) {
  static const std::string dir = [] {
    if (::access("/dev/shm", W_OK) == 0) return std::string("/dev/shm");
    const char* t = std::getenv("TMPDIR");
    return std::string(t ? t : "/tmp");
  }();
  const std::string path = dir + "/srmds_fuzz_" + std::to_string(::getpid()) + suffix;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace srmds::fuzz
