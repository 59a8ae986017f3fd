// DICOM CT series (SPEC §7, §9): one series of single-frame grey slices read into a volume in
// Hounsfield units with the geometry a NIfTI file of it would have.
//
// Files: each file is first checked by our own strict walker of the DICOM encoding (preamble and
// file meta group, implicit or explicit VR little endian, explicit VR big endian, encapsulated
// JPEG / JPEG-LS / JPEG 2000 / RLE pixel data): every element, sequence, item and fragment must lie
// inside the file, VRs must be valid, lengths even, top-level tags ascending, nesting at most 16
// deep. Only a file that passes is handed to GDCM, which parses it and decodes its pixel data (GDCM
// as packaged aborts on some malformed input, so it never sees unchecked bytes); compressed pixel
// data must also agree with the attributes (size, one component, precision; RLE segments decode
// to exactly one frame) before GDCM's codecs, which write past their buffers otherwise, decode
// it. The attributes below are read by the walker and checked (type, length, finite values).
//
// Series: a folder is scanned (not recursively; hidden files, DICOMDIR and anything but regular
// files skipped; a FIFO or device given as the file is refused unopened) and its DICOM image files
// grouped by SeriesInstanceUID. Given one file, its folder is scanned and the file's series is
// taken. More than one series and none chosen: an error listing each series' UID, description and
// slice count. Every file of the series must be read: a DICOM file that is rejected (damaged,
// truncated, a bad attribute) and whose SeriesInstanceUID is the series' (read from the elements
// before the damage) is an error naming it and why, never a slice left out; so is a damaged DICOM
// file whose series cannot be told (damaged before its UID, or empty) when the folder holds no
// other series
// (with other series it is skipped with a warning, as are non-DICOM files and other series'
// rejected files). Only CT is read: a slice whose Modality (0008,0060) is another (MR, PT, OT...)
// is an error naming it; no Modality at all is read as CT with a warning. Slices are sorted by their position d = IPP . n along the slice
// normal n = row cosine x column cosine (never by file name or InstanceNumber) and checked:
// same orientation (cosines within 1e-4), rows, columns and PixelSpacing (within 1e-4 relative);
// no two at one position; each step IPP[k+1] - IPP[k] parallel to n (a sideways part above
// 0.2 % of the step, and above 1e-4 mm, is a gantry tilt: an error naming both files); gaps
// between neighbours within 1 % of their median (a gap of 1.5 medians or more is a missing
// slice, any other deviation beyond 1 % uneven spacing: errors naming both files); deviations
// above 0.1 % but within 1 % are accepted with a warning.
//
// Values: stored value v (BitsStored bits, two's complement when PixelRepresentation = 1) becomes
// HU = v * RescaleSlope + RescaleIntercept with each slice's own slope (default 1) and intercept
// (default 0), computed in double and stored as float.
//
// Geometry (LPS patient axes of DICOM -> RAS of NIfTI, as dcm2niix writes it): voxel (i, j, k) is
// column i, row j of slice k (the tensor slice looks as the image does in a DICOM viewer: H = rows,
// W = columns, io/nifti.hpp). With row cosine r, column cosine c, PixelSpacing (dr, dc) (row
// spacing, column spacing), slice step dz = (d_last - d_first) / (nk - 1) (one slice:
// SpacingBetweenSlices, else SliceThickness, else 1 mm) and p0 = IPP of slice 0:
//     world_LPS(i, j, k) = p0 + i dc r + j dr c + k dz n,   world_RAS = diag(-1, -1, 1) world_LPS
// stored as sform and qform (code 1, scanner), pixdim (dc, dr, dz), units mm.
//
// Not supported (clear errors): colour (SamplesPerPixel != 1), multi-frame files, BitsAllocated
// other than 8, 16 or 32, HighBit != BitsStored - 1, deflated or other transfer syntaxes.
// gdcm's own diagnostics on stderr are switched off (a global setting of that library); what its
// codecs print past that (GDCM's OpenJPEG error handler writes to stderr itself) is caught while
// compressed pixel data is decoded and becomes part of the error (src/io/dicom_pixels.cpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "srmds/io/nifti.hpp"

namespace srmds::io {

// Largest file read as DICOM (bytes) and most files scanned in one folder.
constexpr int64_t kMaxDicomFileBytes = int64_t{1} << 31;
constexpr int64_t kMaxDicomFolderFiles = 100000;

// The attributes of one DICOM image file that the series reader uses.
struct DicomSliceHeader {
  std::string path;  // file (or the name given to decode_dicom)
  std::string transfer_syntax, modality, sop_instance_uid, series_uid, series_description, photometric;
  int64_t instance_number = 0;
  bool has_instance_number = false;
  int rows = 0, columns = 0;
  int samples_per_pixel = 1, bits_allocated = 0, bits_stored = 0, high_bit = 0, pixel_representation = 0;
  int64_t number_of_frames = 1;
  bool has_position = false, has_orientation = false, has_pixel_spacing = false;
  std::array<double, 3> position{};     // ImagePositionPatient (mm, LPS)
  std::array<double, 6> orientation{};  // ImageOrientationPatient: row cosine, column cosine
  std::array<double, 2> pixel_spacing{1.0, 1.0};  // (row spacing, column spacing) mm
  double slice_thickness = 0, spacing_between_slices = 0;  // 0 when absent
  double slope = 1, intercept = 0;                          // RescaleSlope / RescaleIntercept
};

// One DICOM file decoded: its header and rows x columns values in HU (row-major).
struct DicomImage {
  DicomSliceHeader header;
  std::vector<float> hu;
};

// True when the bytes start like a DICOM file (the "DICM" mark at offset 128, or a data set that
// starts with a group 0002 or 0008 element). Cheap; says nothing about validity.
bool looks_like_dicom(const uint8_t* bytes, size_t size);

// Checks and reads one DICOM image held in memory (the entry point for fuzzing): the header
// (parse_dicom_header), then the pixels through GDCM, rescaled to HU. Throws srmds::Error naming
// `name` for any malformed, unsupported or non-image input.
DicomImage decode_dicom(const uint8_t* bytes, size_t size, const std::string& name);
// The header only (the whole file is still checked by the walker).
DicomSliceHeader parse_dicom_header(const uint8_t* bytes, size_t size, const std::string& name);

struct DicomSeriesSummary {
  std::string uid, description;
  int64_t slices = 0;
  std::string first_file;
};

// The image series in a folder (or in the folder of the given file), by UID.
std::vector<DicomSeriesSummary> list_dicom_series(const std::string& path);

struct DicomReadOptions {
  std::string series_uid;  // the series to read; empty: the only one (or the given file's)
};

struct DicomSeries {
  NiftiVolume volume;  // HU; datatype float32; path = the folder or file given
  std::string series_uid, series_description;
  std::vector<std::string> slice_files;  // the file of slice k (k ascending along the normal)
  std::vector<std::string> warnings;     // uneven spacing, skipped files
};

// Reads one series (a folder, or any file of it). Throws srmds::Error naming the folder or files.
DicomSeries read_dicom_series(const std::string& path, const DicomReadOptions& options = {});

}  // namespace srmds::io
