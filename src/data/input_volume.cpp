// Inputs of every kind as volumes, and their masks (see data/input_volume.hpp).
#include "srmds/data/input_volume.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "srmds/core/error.hpp"
#include "srmds/io/dicom.hpp"
#include "srmds/io/image2d.hpp"
#include "srmds/io/nifti_affine.hpp"

namespace srmds {

namespace fs = std::filesystem;

namespace {

bool ends_with_ci(const std::string& s, const char* ext) {
  const std::string e(ext);
  if (s.size() <= e.size()) return false;
  for (size_t i = 0; i < e.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - e.size() + i])) != e[i]) return false;
  return true;
}

bool is_nifti_name(const std::string& p) { return ends_with_ci(p, ".nii") || ends_with_ci(p, ".nii.gz"); }

// A 2-D image as a 1-slice volume.
io::NiftiVolume image_volume(const io::GreyImage& img, const std::vector<float>& values) {
  io::NiftiVolume v;
  v.path = img.path;
  v.datatype = 16;  // float32
  v.scl_slope = 1;
  v.geometry.ndim = 2;
  v.geometry.ni = img.width;
  v.geometry.nj = img.height;
  v.geometry.nk = 1;
  v.data = values;
  return v;
}

std::string size_text(const io::NiftiGeometry& g) {
  return std::to_string(g.ni) + " x " + std::to_string(g.nj) + " x " + std::to_string(g.nk);
}

}  // namespace

const char* input_kind_name(InputKind kind) {
  switch (kind) {
    case InputKind::Nifti: return "NIfTI";
    case InputKind::Dicom: return "DICOM";
    case InputKind::Image2d: return "image";
  }
  return "?";
}

InputKind input_kind(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) SRMDS_THROW("input '" << path << "': no such file or folder");
  if (fs::is_directory(st)) return InputKind::Dicom;
  // A FIFO or device is never opened: reading one blocks (or never ends).
  if (!fs::is_regular_file(st)) SRMDS_THROW("input '" << path << "': not a regular file");
  if (is_nifti_name(path)) return InputKind::Nifti;
  if (io::has_image_extension(path)) return InputKind::Image2d;
  std::ifstream in(path, std::ios::binary);
  uint8_t head[132] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const size_t got = static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0));
  if (io::looks_like_dicom(head, got)) return InputKind::Dicom;
  SRMDS_THROW("input '" << path << "': not a NIfTI (.nii, .nii.gz), PNG/JPEG or DICOM file, nor a DICOM folder");
}

InputVolume read_input_volume(const std::string& path, const InputOptions& options) {
  InputVolume in;
  in.kind = input_kind(path);
  switch (in.kind) {
    case InputKind::Nifti:
      in.volume = io::read_nifti(path);
      break;
    case InputKind::Dicom: {
      io::DicomReadOptions o;
      o.series_uid = options.dicom_series;
      io::DicomSeries s = io::read_dicom_series(path, o);
      in.volume = std::move(s.volume);
      in.slice_files = std::move(s.slice_files);
      in.warnings = std::move(s.warnings);
      break;
    }
    case InputKind::Image2d: {
      const io::GreyImage img = io::read_grey_image(path);
      std::vector<float> values(img.pixels.size());
      if (img.bit_depth == 8) {
        in.intensity = Intensity::Unit;
        for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(img.pixels[i] / 255.0);
      } else if (options.png16_hu) {
        in.intensity = Intensity::Hounsfield;
        for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(static_cast<int>(img.pixels[i]) - 32768);
      } else {
        in.intensity = Intensity::Raw;
        for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(img.pixels[i]);
      }
      in.volume = image_volume(img, values);
      in.has_spacing = false;
      in.slice_files = {path};
      break;
    }
  }
  return in;
}

Window input_window(const InputVolume& input, const Window& configured) {
  switch (input.intensity) {
    case Intensity::Hounsfield: return configured;
    case Intensity::Unit: return std::array<double, 2>{0.0, 1.0};
    case Intensity::Raw: return std::nullopt;
  }
  return configured;
}

MaskVolume read_mask_for(const InputVolume& image, const std::string& mask_path, const std::vector<int>& volume_labels,
                         const std::vector<int>& image_labels) {
  MaskVolume m;
  const io::NiftiGeometry& ig = image.volume.geometry;
  if (image.kind == InputKind::Image2d) {
    if (!io::has_image_extension(mask_path))
      SRMDS_THROW("mask '" << mask_path << "' for the image '" << image.volume.path << "' must be a PNG or JPEG file");
    const io::GreyImage img = io::read_grey_image(mask_path);
    if (img.width != ig.ni || img.height != ig.nj)
      SRMDS_THROW("image/mask size mismatch: image '" << image.volume.path << "' is " << ig.ni << " x " << ig.nj
                                                      << " pixels but mask '" << mask_path << "' is " << img.width << " x "
                                                      << img.height);
    std::vector<float> values(img.pixels.size());
    const bool threshold = img.format == io::ImageFormat::Jpeg && image_labels.empty();
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = threshold ? (img.pixels[i] >= 128 ? 1.0f : 0.0f) : static_cast<float>(img.pixels[i]);
    m.labels = image_volume(img, values);
    m.labels.geometry = ig;
    m.lesion_labels = image_labels;
    return m;
  }
  if (!is_nifti_name(mask_path))
    SRMDS_THROW("mask '" << mask_path << "' for the " << input_kind_name(image.kind) << " volume '" << image.volume.path
                         << "' must be a NIfTI file (.nii or .nii.gz)");
  io::NiftiVolume mask = io::read_nifti(mask_path);
  const io::NiftiGeometry& mg = mask.geometry;
  const std::optional<io::GridPermutation> perm = io::grid_permutation(mg, ig);
  if (perm && !perm->identity()) {
    mask.data = io::permute_to_grid(mask.data, mg, *perm, ig);
  } else if (!perm) {
    if (mg.ni != ig.ni || mg.nj != ig.nj || mg.nk != ig.nk)
      SRMDS_THROW(input_kind_name(image.kind) << " image/mask size mismatch: image '" << image.volume.path << "' is "
                                              << size_text(ig) << " but mask '" << mask_path << "' is " << size_text(mg));
    if (io::nifti_affine(mg) && io::nifti_affine(ig))
      m.warnings.push_back("mask '" + mask_path + "' is on another grid than image '" + image.volume.path +
                           "' (different affine); its voxels are used in stored order");
  }
  mask.geometry = ig;
  m.labels = std::move(mask);
  m.lesion_labels = volume_labels;
  return m;
}

}  // namespace srmds
