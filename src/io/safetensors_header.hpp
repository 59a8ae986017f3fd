// Private to src/io/safetensors.cpp and its tests (not installed): the header's two readers. The
// fast one reads the usual form of header straight into entries; anything else goes to the JSON
// document, which names every problem. Both check the same and say the same, which
// tests/test_safetensors_header.cpp checks on mutated headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace srmds::io::detail {

// One validated header entry.
struct HeaderEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

struct Header {
  std::map<std::string, std::string> metadata;
  std::vector<HeaderEntry> entries;  // in data-offset order
};

// Validates the header text against a data section of `data_size` bytes (throws srmds::Error
// naming `file`): the fast path where it can, the document otherwise.
Header parse_header(const char* text, size_t n, uint64_t data_size, const std::string& file);
// The same through the JSON document only.
Header header_from_document(const char* text, size_t n, uint64_t data_size, const std::string& file);

}  // namespace srmds::io::detail
