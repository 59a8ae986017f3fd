// DICOM Segmentation output through DCMTK's dcmseg (see io/dicom_seg.hpp).
#include "srmds/io/dicom_seg.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/io/atomic_file.hpp"
#include "srmds/version.hpp"

#if SRMDS_HAVE_DCMTK
#include "dcmtk/config/osconfig.h"  // first, as DCMTK asks
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcvrda.h"
#include "dcmtk/dcmdata/dcvrtm.h"
#include "dcmtk/dcmfg/fgderimg.h"
#include "dcmtk/dcmfg/fgfracon.h"
#include "dcmtk/dcmfg/fgpixmsr.h"
#include "dcmtk/dcmfg/fgplanor.h"
#include "dcmtk/dcmfg/fgplanpo.h"
#include "dcmtk/dcmiod/iodmacro.h"
#include "dcmtk/dcmiod/modcommoninstanceref.h"
#include "dcmtk/dcmseg/segdoc.h"
#include "dcmtk/dcmseg/segment.h"
#include "dcmtk/oflog/oflog.h"
#endif

namespace srmds::io {

#if !SRMDS_HAVE_DCMTK

bool dicom_seg_supported() { return false; }

std::string dicom_seg_unsupported_reason() {
  return "this build of srmds cannot write DICOM SEG: it was built without DCMTK (install libdcmtk-dev, "
         "scripts/install-deps.sh, and configure with -DSRMDS_WITH_DCMTK=ON)";
}

void check_dicom_seg_source(const std::vector<std::string>&, int64_t, int64_t) {
  throw Error(dicom_seg_unsupported_reason());
}

void write_dicom_seg(const std::string&, const std::vector<std::string>&, int64_t, int64_t, const std::vector<uint8_t>&,
                     const std::string&) {
  throw Error(dicom_seg_unsupported_reason());
}

#else

namespace {

// The codes of the object (DICOM PS3.16).
const char* const kSegmentLabel = "COVID-19 lesion";
CodeSequenceMacro category_code() { return CodeSequenceMacro("49755003", "SCT", "Morphologically abnormal structure"); }
CodeSequenceMacro type_code() { return CodeSequenceMacro("52988006", "SCT", "Lesion"); }
CodeSequenceMacro derivation_code() { return CodeSequenceMacro("113076", "DCM", "Segmentation"); }
CodeSequenceMacro purpose_code() {
  return CodeSequenceMacro("121322", "DCM", "Source image for image processing operation");
}

// What a SEG needs of one source slice.
struct SourceSlice {
  std::string file, sop_class, sop_instance, study, series, frame_of_reference, series_number, body_part;
  std::string position[3], orientation[6], pixel_spacing, slice_thickness, spacing_between_slices;
};

// DCMTK logs its own diagnostics on stderr (warnings by default); errors reach the user through
// our exceptions, so only its fatal messages are kept (a global setting of that library).
void quiet_dcmtk() {
  static const bool done = [] {
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    return true;
  }();
  (void)done;
}

std::string text_of(const OFCondition& c) { return c.text() ? c.text() : "unknown DCMTK error"; }

void require(const OFCondition& c, const std::string& what) {
  if (c.bad()) throw Error("DICOM SEG: " + what + ": " + text_of(c));
}

std::string value_of(DcmItem& ds, const DcmTagKey& tag, unsigned long pos = 0) {
  OFString v;
  if (ds.findAndGetOFString(tag, v, pos).bad()) return "";
  return std::string(v.c_str());
}

// Loads the header of one file (values above 4 KiB, the pixel data, stay on disk).
std::unique_ptr<DcmFileFormat> load_header(const std::string& file) {
  auto ff = std::make_unique<DcmFileFormat>();
  const OFCondition c = ff->loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
  if (c.bad()) throw Error("DICOM SEG: cannot read the source slice '" + file + "' with DCMTK: " + text_of(c));
  return ff;
}

SourceSlice read_source_slice(const std::string& file, int64_t rows, int64_t columns) {
  std::unique_ptr<DcmFileFormat> ff = load_header(file);
  DcmDataset& ds = *ff->getDataset();
  SourceSlice s;
  s.file = file;
  s.sop_class = value_of(ds, DCM_SOPClassUID);
  s.sop_instance = value_of(ds, DCM_SOPInstanceUID);
  s.study = value_of(ds, DCM_StudyInstanceUID);
  s.series = value_of(ds, DCM_SeriesInstanceUID);
  s.frame_of_reference = value_of(ds, DCM_FrameOfReferenceUID);
  s.series_number = value_of(ds, DCM_SeriesNumber);
  s.body_part = value_of(ds, DCM_BodyPartExamined);
  const std::string modality = value_of(ds, DCM_Modality);
  const auto refuse = [&](const std::string& why) {
    throw Error("DICOM SEG: the source slice '" + file + "' " + why + "; a DICOM Segmentation cannot reference it");
  };
  if (!modality.empty() && modality != "CT") refuse("has Modality " + modality + ", not CT");
  if (s.sop_class.empty()) refuse("has no SOPClassUID");
  if (s.sop_instance.empty()) refuse("has no SOPInstanceUID");
  if (s.study.empty()) refuse("has no StudyInstanceUID");
  if (s.series.empty()) refuse("has no SeriesInstanceUID");
  if (s.frame_of_reference.empty()) refuse("has no FrameOfReferenceUID (the SEG's frames could not be placed)");
  Uint16 r = 0, c = 0;
  if (ds.findAndGetUint16(DCM_Rows, r).bad() || ds.findAndGetUint16(DCM_Columns, c).bad())
    refuse("has no Rows or Columns");
  if (r != rows || c != columns)
    refuse("has " + std::to_string(r) + " x " + std::to_string(c) + " pixels, the mask " + std::to_string(rows) + " x " +
           std::to_string(columns));
  for (unsigned long i = 0; i < 3; ++i) s.position[i] = value_of(ds, DCM_ImagePositionPatient, i);
  for (unsigned long i = 0; i < 6; ++i) s.orientation[i] = value_of(ds, DCM_ImageOrientationPatient, i);
  for (const std::string& v : s.position)
    if (v.empty()) refuse("has no ImagePositionPatient (three values)");
  for (const std::string& v : s.orientation)
    if (v.empty()) refuse("has no ImageOrientationPatient (six values)");
  const std::string dr = value_of(ds, DCM_PixelSpacing, 0), dc = value_of(ds, DCM_PixelSpacing, 1);
  if (!dr.empty() && !dc.empty()) s.pixel_spacing = dr + "\\" + dc;
  s.slice_thickness = value_of(ds, DCM_SliceThickness);
  s.spacing_between_slices = value_of(ds, DCM_SpacingBetweenSlices);
  return s;
}

std::vector<SourceSlice> read_source(const std::vector<std::string>& files, int64_t rows, int64_t columns) {
  if (files.empty()) throw Error("DICOM SEG: no source slices");
  if (rows < 1 || columns < 1 || rows > 65535 || columns > 65535)
    throw Error("DICOM SEG: " + std::to_string(rows) + " x " + std::to_string(columns) + " frames cannot be written");
  quiet_dcmtk();
  std::vector<SourceSlice> slices;
  slices.reserve(files.size());
  for (const std::string& f : files) {
    slices.push_back(read_source_slice(f, rows, columns));
    const SourceSlice& s = slices.back();
    const SourceSlice& first = slices.front();
    const auto differ = [&](const char* what, const std::string& a, const std::string& b) {
      if (a != b)
        throw Error(std::string("DICOM SEG: the source slices '") + first.file + "' and '" + s.file + "' have different " +
                    what + " (" + a + ", " + b + "); a DICOM Segmentation references one series");
    };
    differ("StudyInstanceUIDs", first.study, s.study);
    differ("SeriesInstanceUIDs", first.series, s.series);
    differ("FrameOfReferenceUIDs", first.frame_of_reference, s.frame_of_reference);
  }
  return slices;
}

// A decimal string of at most 16 characters (DS).
std::string ds_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  if (std::string(buf).size() > 16) std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

double parse_or(const std::string& s, double fallback) {
  try {
    return s.empty() ? fallback : std::stod(s);
  } catch (...) {
    return fallback;
  }
}

// Distance of a slice along the series normal (row cosine x column cosine of slice 0).
double along_normal(const SourceSlice& s, const double n[3]) {
  double d = 0;
  for (int i = 0; i < 3; ++i) d += parse_or(s.position[i], 0) * n[i];
  return d;
}

std::string generate_uid(const char* root) {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, root);
}

void build_and_save(const std::string& tmp, const std::vector<SourceSlice>& slices, const std::string& first_file,
                    int64_t rows, int64_t columns, const std::vector<uint8_t>& mask, const std::string& description) {
  const std::string desc = description.substr(0, 64);
  IODGeneralEquipmentModule::EquipmentInfo equipment("srmds", "srmds", "1", srmds::version());
  ContentIdentificationMacro content("1", "LESIONS", desc.c_str(), "");
  DcmSegmentation* created = nullptr;
  require(DcmSegmentation::createBinarySegmentation(created, static_cast<Uint16>(rows), static_cast<Uint16>(columns),
                                                     equipment, content),
          "creating the segmentation");
  std::unique_ptr<DcmSegmentation> seg(created);

  // Patient, study and frame of reference of the source; a new series and instance.
  std::unique_ptr<DcmFileFormat> first = load_header(first_file);
  require(seg->importFromSourceImage(*first->getDataset()),
          "taking patient, study and frame of reference from '" + first_file + "'");
  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  const long series_number = 1000 + static_cast<long>(parse_or(slices[0].series_number, 0));
  require(seg->getSeries().setSeriesInstanceUID(generate_uid(SITE_SERIES_UID_ROOT).c_str()), "series UID");
  require(seg->getSeries().setSeriesNumber(std::to_string(series_number).c_str()), "series number");
  require(seg->getSeries().setSeriesDescription(desc.c_str()), "series description");
  require(seg->getSeries().setSeriesDate(date), "series date");
  require(seg->getSeries().setSeriesTime(time), "series time");
  require(seg->getSOPCommon().setSOPInstanceUID(generate_uid(SITE_INSTANCE_UID_ROOT).c_str()), "instance UID");
  require(seg->getGeneralImage().setContentDate(date), "content date");
  require(seg->getGeneralImage().setContentTime(time), "content time");

  // The one segment.
  DcmSegment* segment = nullptr;
  require(DcmSegment::create(segment, kSegmentLabel, category_code(), type_code(), DcmSegTypes::SAT_AUTOMATIC, "srmds"),
          "creating the segment");
  std::unique_ptr<DcmSegment> segment_owner(segment);
  AlgorithmIdentificationMacro& algorithm = segment->getSegmentationAlgorithmIdentification();
  require(algorithm.getAlgorithmFamilyCode().set("123110", "DCM", "Artificial Intelligence"), "algorithm family");
  require(algorithm.setAlgorithmName("srmds"), "algorithm name");
  require(algorithm.setAlgorithmVersion(srmds::version()), "algorithm version");
  Uint16 segment_number = 0;
  require(seg->addSegment(segment, segment_number), "adding the segment");
  segment_owner.release();  // the segmentation owns it now

  // Dimensions: segment, then position.
  const std::string dimension_uid = generate_uid(SITE_INSTANCE_UID_ROOT);
  IODMultiframeDimensionModule& dims = seg->getDimensions();
  require(dims.addDimensionIndex(DCM_ReferencedSegmentNumber, dimension_uid.c_str(), DCM_SegmentIdentificationSequence,
                                 "ReferencedSegmentNumber"),
          "dimension index (segment)");
  require(dims.addDimensionIndex(DCM_ImagePositionPatient, dimension_uid.c_str(), DCM_PlanePositionSequence,
                                 "ImagePositionPatient"),
          "dimension index (position)");

  // Shared functional groups: orientation and pixel measures of the series.
  const SourceSlice& s0 = slices[0];
  std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
      s0.orientation[0].c_str(), s0.orientation[1].c_str(), s0.orientation[2].c_str(), s0.orientation[3].c_str(),
      s0.orientation[4].c_str(), s0.orientation[5].c_str()));
  if (!orientation) throw Error("DICOM SEG: the orientation of '" + s0.file + "' is not valid");
  require(seg->addForAllFrames(*orientation), "plane orientation");
  double step = 0;
  if (slices.size() > 1) {
    double r[3], c[3], n[3];
    for (int i = 0; i < 3; ++i) r[i] = parse_or(s0.orientation[i], 0), c[i] = parse_or(s0.orientation[3 + i], 0);
    n[0] = r[1] * c[2] - r[2] * c[1];
    n[1] = r[2] * c[0] - r[0] * c[2];
    n[2] = r[0] * c[1] - r[1] * c[0];
    step = (along_normal(slices.back(), n) - along_normal(s0, n)) / static_cast<double>(slices.size() - 1);
    if (step < 0) step = -step;
  } else {
    step = parse_or(s0.spacing_between_slices, parse_or(s0.slice_thickness, 1.0));
  }
  if (!(step > 0)) step = 1.0;
  FGPixelMeasures measures;
  require(measures.setPixelSpacing(s0.pixel_spacing.empty() ? "1\\1" : s0.pixel_spacing.c_str()), "pixel spacing");
  require(measures.setSliceThickness(
              parse_or(s0.slice_thickness, 0) > 0 ? s0.slice_thickness.c_str() : ds_value(step).c_str()),
          "slice thickness");
  require(measures.setSpacingBetweenSlices(ds_value(step).c_str()), "spacing between slices");
  require(seg->addForAllFrames(measures), "pixel measures");

  // One frame per slice: its position, its dimension indices, its source image.
  const size_t plane = static_cast<size_t>(rows) * static_cast<size_t>(columns);
  std::vector<Uint8> frame(plane);
  for (size_t k = 0; k < slices.size(); ++k) {
    const SourceSlice& s = slices[k];
    std::unique_ptr<FGPlanePosPatient> position(
        FGPlanePosPatient::createMinimal(s.position[0].c_str(), s.position[1].c_str(), s.position[2].c_str()));
    if (!position) throw Error("DICOM SEG: the position of '" + s.file + "' is not valid");
    FGFrameContent frame_content;
    require(frame_content.setDimensionIndexValues(segment_number, 0), "frame content");
    require(frame_content.setDimensionIndexValues(static_cast<Uint32>(k + 1), 1), "frame content");
    ImageSOPInstanceReferenceMacro* reference = nullptr;
    require(ImageSOPInstanceReferenceMacro::create(s.sop_class.c_str(), s.sop_instance.c_str(), OFVector<Uint16>(),
                                                   reference),
            "referencing '" + s.file + "'");
    std::unique_ptr<ImageSOPInstanceReferenceMacro> reference_owner(reference);
    OFVector<ImageSOPInstanceReferenceMacro> references;
    references.push_back(*reference);
    std::unique_ptr<FGDerivationImage> derivation(
        FGDerivationImage::createMinimal(references, "", derivation_code(), purpose_code()));
    if (!derivation) throw Error("DICOM SEG: cannot reference '" + s.file + "' as the source of its frame");
    std::copy(mask.begin() + static_cast<std::ptrdiff_t>(k * plane), mask.begin() + static_cast<std::ptrdiff_t>((k + 1) * plane),
              frame.begin());
    OFVector<FGBase*> groups;
    groups.push_back(position.get());
    groups.push_back(&frame_content);
    groups.push_back(derivation.get());
    require(seg->addFrame(frame.data(), segment_number, groups), "adding the frame of '" + s.file + "'");
  }

  // Common Instance Reference: every slice of the source series.
  auto* series_item = new IODSeriesAndInstanceReferenceMacro::ReferencedSeriesItem;
  seg->getCommonInstanceReference().getReferencedSeriesItems().push_back(series_item);
  require(series_item->setSeriesInstanceUID(s0.series.c_str()), "referenced series");
  for (const SourceSlice& s : slices) {
    auto* instance = new SOPInstanceReferenceMacro;
    series_item->getReferencedInstanceItems().push_back(instance);
    require(instance->setReferencedSOPClassUID(s.sop_class.c_str()), "referenced instance class");
    require(instance->setReferencedSOPInstanceUID(s.sop_instance.c_str()), "referenced instance");
  }

  DcmFileFormat out;
  DcmDataset& ds = *out.getDataset();
  require(seg->writeDataset(ds), "building the object");
  // Each frame lies on its source slice's pixel grid: Spatial Locations Preserved YES in every Source
  // Image item (readers such as highdicom index by source instance only then; dcmseg has no setter).
  DcmSequenceOfItems* per_frame = nullptr;
  require(ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame), "per-frame functional groups");
  for (unsigned long f = 0; per_frame && f < per_frame->card(); ++f) {
    DcmItem* derivation_item = nullptr;
    require(per_frame->getItem(f)->findAndGetSequenceItem(DCM_DerivationImageSequence, derivation_item, 0),
            "derivation image of frame " + std::to_string(f + 1));
    DcmSequenceOfItems* sources = nullptr;
    require(derivation_item->findAndGetSequence(DCM_SourceImageSequence, sources), "source images of a frame");
    for (unsigned long i = 0; sources && i < sources->card(); ++i)
      require(sources->getItem(i)->putAndInsertString(DCM_SpatialLocationsPreserved, "YES"), "spatial locations");
  }
  if (!ds.tagExists(DCM_SegmentsOverlap)) require(ds.putAndInsertString(DCM_SegmentsOverlap, "NO"), "segments overlap");
  if (!s0.body_part.empty()) require(ds.putAndInsertString(DCM_BodyPartExamined, s0.body_part.c_str()), "body part");
  require(out.saveFile(tmp.c_str(), EXS_LittleEndianExplicit), "writing '" + tmp + "'");
}

}  // namespace

bool dicom_seg_supported() { return true; }

std::string dicom_seg_unsupported_reason() { return ""; }

void check_dicom_seg_source(const std::vector<std::string>& slice_files, int64_t rows, int64_t columns) {
  (void)read_source(slice_files, rows, columns);
}

void write_dicom_seg(const std::string& path, const std::vector<std::string>& slice_files, int64_t rows,
                     int64_t columns, const std::vector<uint8_t>& mask, const std::string& description) {
  const std::vector<SourceSlice> slices = read_source(slice_files, rows, columns);
  const size_t voxels = static_cast<size_t>(rows) * static_cast<size_t>(columns) * slices.size();
  if (mask.size() != voxels)
    throw Error("DICOM SEG: the mask has " + std::to_string(mask.size()) + " voxels, the series " + std::to_string(voxels));
  write_file_atomic(path, [&](const std::string& tmp) {
    build_and_save(tmp, slices, slice_files.front(), rows, columns, mask, description);
  });
}

#endif

}  // namespace srmds::io
