// safetensors files (SPEC §6):
//
//     [8 bytes]  N, the header length, unsigned little-endian
//     [N bytes]  JSON object: name -> {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]},
//                optionally "__metadata__": {string: string}
//     [rest]     the data section; tensor bytes are [begin, end) relative to its start, row-major,
//                little-endian, and the tensors cover it exactly (no gaps, no overlaps).
//
// The writer stores F32 tensors in sorted name order, pads the header with spaces to a multiple of
// 8 bytes, and replaces the target atomically. The reader validates everything before touching
// the data and throws srmds::Error naming the file and the first bad tensor; it never reads out of
// bounds. F32 data is returned as is; F16, BF16 and F64 are converted to float; other dtypes
// (e.g. the I64 `num_batches_tracked`) are validated and listed with empty `data`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace srmds::io {

struct TensorRecord {
  std::string name;
  std::string dtype = "F32";   // as stored in the file
  std::vector<int64_t> shape;  // empty for a scalar
  std::vector<float> data;     // numel() values for floating dtypes; empty for others

  int64_t numel() const;
  bool has_data() const { return static_cast<int64_t>(data.size()) == numel(); }
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;  // "__metadata__"
  std::vector<TensorRecord> tensors;            // reader: in data-offset order; writer: any order

  // The tensor named `name`, or nullptr.
  const TensorRecord* find(const std::string& name) const;
};

// Headers larger than this are rejected before they are read.
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1000 * 1000;

// Bytes per element of a safetensors dtype ("F32" -> 4), or 0 for an unknown dtype.
size_t safetensors_dtype_size(const std::string& dtype);

// "[2, 3, 1, 1]"
std::string shape_string(const std::vector<int64_t>& shape);

SafetensorsFile read_safetensors(const std::string& path);
// The metadata and every tensor's name, dtype and shape, without reading any tensor's data (each
// `data` stays empty); the header is checked against the file's size as read_safetensors checks it.
SafetensorsFile read_safetensors_header(const std::string& path);
// The same from bytes in memory; `name` stands for the file in error messages.
SafetensorsFile parse_safetensors(const void* bytes, size_t size, const std::string& name);

// Writes F32 tensors (dtype must be "F32", data.size() == numel, names unique and non-empty).
void write_safetensors(const std::string& path, const SafetensorsFile& file);
// The exact bytes write_safetensors writes.
std::vector<char> serialize_safetensors(const SafetensorsFile& file);

}  // namespace srmds::io
