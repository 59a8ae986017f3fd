// Private pieces of the DICOM reader (src/io/dicom_*.cpp; not installed): the strict walker of
// the DICOM encoding that every file passes before GDCM sees it, and GDCM's pixel decoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "srmds/io/dicom.hpp"

namespace srmds::io::detail {

enum class DicomEncoding { ImplicitLittle, ExplicitLittle, ExplicitBig };

// A top-level data element: its value is bytes [value_offset, value_offset + length) of the file
// (for encapsulated pixel data: undefined_length, see DicomWalk::fragments).
struct DicomElement {
  uint16_t group = 0, element = 0;
  char vr[3] = {0, 0, 0};  // as written ("" for implicit VR)
  size_t value_offset = 0;
  uint32_t length = 0;
  bool undefined_length = false;
};

struct DicomFragment {
  size_t offset = 0;
  uint32_t length = 0;
};

struct DicomWalk {
  std::string transfer_syntax;  // UID ("" when the file has no meta group: implicit or explicit LE guessed)
  DicomEncoding encoding = DicomEncoding::ImplicitLittle;
  bool encapsulated = false;    // a compressed transfer syntax
  std::vector<DicomElement> elements;      // top-level data set elements, ascending tags
  std::vector<DicomFragment> fragments;    // encapsulated pixel data: items after the offset table

  const DicomElement* find(uint16_t group, uint16_t element) const;
};

// Walks the whole file (see io/dicom.hpp); throws srmds::Error naming `name` and the problem.
DicomWalk walk_dicom(const uint8_t* bytes, size_t size, const std::string& name);

// The top-level elements of a file that walk_dicom may reject, up to its first problem (an unknown
// or missing transfer syntax guessed): enough to tell which series a damaged file belongs to.
// Never throws.
DicomWalk walk_dicom_prefix(const uint8_t* bytes, size_t size);

// The SeriesInstanceUID of a file that the reader rejects, when it can be told: "" for a walked
// file without one, nullopt when the file is damaged before it (or it is unreadable).
std::optional<std::string> series_uid_of(const uint8_t* bytes, size_t size);

// Header attributes from a walked file (checks types, lengths and values).
DicomSliceHeader read_slice_header(const uint8_t* bytes, size_t size, const DicomWalk& walk, const std::string& name);

// Checks that compressed pixel data agrees with the header before GDCM's codecs see it
// (src/io/dicom_codestream.cpp); nothing to check for native pixel data.
void check_codestream(const uint8_t* bytes, size_t size, const DicomWalk& walk, const DicomSliceHeader& header);

// The slice's rows x columns stored values as HU through GDCM (parse of the checked bytes, then
// gdcm::Image::GetBuffer), rescaled with the header's slope and intercept.
std::vector<float> decode_dicom_pixels(const uint8_t* bytes, size_t size, const DicomWalk& walk,
                                       const DicomSliceHeader& header);

// Switches gdcm's warnings, errors and debug output on stderr off (once).
void quiet_gdcm();

// Reads a whole file (at most kMaxDicomFileBytes); throws naming the file.
std::vector<uint8_t> read_file_bytes(const std::string& path, int64_t max_bytes);

}  // namespace srmds::io::detail
