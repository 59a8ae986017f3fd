// DICOM Segmentation output (issue 22): the lesion mask of a DICOM CT series as a DICOM
// Segmentation object (Segmentation Storage, 1.2.840.10008.5.1.4.1.1.66.4) that a PACS, a DICOM
// viewer or a workstation shows on the series it was made from.
//
// The object (built with DCMTK's dcmseg, the object model dcmqi uses, so the modules, functional
// groups and their rules come from a maintained implementation of the standard, not from a list of
// attributes kept here):
//   - BINARY, one segment: label "COVID-19 lesion", segmented property category SCT 49755003
//     "Morphologically abnormal structure", type SCT 52988006 "Lesion", algorithm type AUTOMATIC,
//     algorithm name "srmds" and version srmds::version() (Segment Algorithm Name and the
//     Segmentation Algorithm Identification Sequence, family DCM 123110 "Artificial Intelligence");
//   - patient, study and frame of reference taken over from the source series (same Study Instance
//     UID, patient module, Frame of Reference UID); a new series (modality SEG, series number 1000 +
//     the source's, or 1000) and instance;
//   - one frame per source slice, empty frames included (a slice without lesion is said to have
//     none, and readers need not fill gaps), in the order of the slices along their normal. Frame k
//     has the Plane Position (Patient) of slice k as written in its file, the Plane Orientation and
//     Pixel Measures of the series (shared; slice thickness from the source, else the slice step;
//     spacing between slices: the step), and a Derivation Image Sequence (derivation DCM 113076
//     "Segmentation") whose Source Image Sequence references slice k's SOP Class and SOP Instance
//     UID (purpose DCM 121322 "Source image for image processing operation"); the Common Instance
//     Reference module lists every slice of the source series. Dimensions: Referenced Segment
//     Number, Image Position (Patient).
//   - frame pixel (row j, column i) of frame k is mask voxel (i, j, k) of the volume the series reader
//     builds (io/dicom.hpp: column i, row j of slice k), so the SEG and the NIfTI mask of one run
//     agree voxel for voxel.
//
// The source series must be the one read (io/dicom.hpp has already refused malformed files, a
// non-CT Modality, tilt and gaps); here each slice's header is read again with DCMTK and must give
// SOP Class and Instance UIDs, one Study Instance UID and one Frame of Reference UID for the whole
// series, Rows x Columns equal to the mask's, and an image position and orientation. Anything else
// is an srmds::Error naming the file; nothing is written.
//
// A build without DCMTK (CMake option SRMDS_WITH_DCMTK off, or libdcmtk-dev not found) has
// dicom_seg_supported() false and write_dicom_seg throws an srmds::Error saying so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace srmds::io {

// True when this build can write DICOM SEG (it was built with DCMTK).
bool dicom_seg_supported();

// The reason a build cannot write DICOM SEG (empty when it can).
std::string dicom_seg_unsupported_reason();

// Checks that the slice files can be referenced by a SEG of a rows x columns mask (see above),
// without writing anything. Throws srmds::Error naming the first bad file.
void check_dicom_seg_source(const std::vector<std::string>& slice_files, int64_t rows, int64_t columns);

// Writes `path` atomically (io/atomic_file.hpp: staged when an AtomicBatch is active): the SEG of
// `mask` (columns x rows x slice_files.size() voxels, column index fastest, non-zero = lesion) over
// the slices slice_files[k] (k ascending along the slice normal, as the series reader sorts them).
// `description` goes into SeriesDescription and ContentDescription (at most 64 characters kept).
void write_dicom_seg(const std::string& path, const std::vector<std::string>& slice_files, int64_t rows,
                     int64_t columns, const std::vector<uint8_t>& mask, const std::string& description);

}  // namespace srmds::io
