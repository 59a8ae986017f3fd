// Private helpers shared by src/io/nifti_header.cpp and src/io/nifti.cpp (not installed).
#pragma once

#include <cstdint>
#include <string>

namespace srmds::io::detail {

enum class NiftiExtension { Nii, NiiGz, Other };
NiftiExtension nifti_extension(const std::string& path);

// Bytes per voxel of an accepted datatype, 0 for any other.
int supported_bytes_per_voxel(int datatype);

// Bytes of the (possibly gzip-compressed) file's content that can be read; *error is left empty
// when the stream ended cleanly, else holds zlib's message (-1: the file cannot be opened).
int64_t decompressed_size(const std::string& path, std::string* error);

}  // namespace srmds::io::detail
