// Lesion burden (see infer/lesion_burden.hpp).
#include "srmds/infer/lesion_burden.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "srmds/core/error.hpp"

namespace srmds {

namespace {

// NIfTI xyz_units codes: 1 metre, 2 millimetre, 3 micrometre, 0 unknown (taken as mm).
double to_mm(int xyz_units) {
  switch (xyz_units & 0x07) {
    case 1: return 1000.0;
    case 3: return 0.001;
    default: return 1.0;
  }
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

LesionBurden lesion_burden(const std::vector<uint8_t>& mask, const io::NiftiGeometry& g, bool has_spacing,
                           const std::vector<std::string>& slice_files, const std::string& input) {
  SRMDS_CHECK(static_cast<int64_t>(mask.size()) == g.voxels(),
              "lesion_burden: mask of " << mask.size() << " voxels for a grid of " << g.ni << " x " << g.nj << " x " << g.nk);
  SRMDS_CHECK(slice_files.empty() || static_cast<int64_t>(slice_files.size()) == g.nk,
              "lesion_burden: " << slice_files.size() << " slice files for " << g.nk << " slices");
  LesionBurden b;
  b.input = input;
  b.ni = g.ni;
  b.nj = g.nj;
  b.nk = g.nk;
  const double unit = to_mm(g.xyz_units);
  for (size_t a = 0; a < 3; ++a) b.spacing_mm[a] = std::fabs(g.pixdim[a]) * unit;
  b.has_spacing = has_spacing && std::isfinite(b.spacing_mm[0] * b.spacing_mm[1] * b.spacing_mm[2]) &&
                  b.spacing_mm[0] > 0 && b.spacing_mm[1] > 0 && b.spacing_mm[2] > 0;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double pixel_mm2 = b.has_spacing ? b.spacing_mm[0] * b.spacing_mm[1] : nan;
  const int64_t plane = g.slice_voxels();
  for (int64_t k = 0; k < g.nk; ++k) {
    int64_t n = 0;
    const uint8_t* m = mask.data() + k * plane;
    for (int64_t i = 0; i < plane; ++i) n += m[i] != 0 ? 1 : 0;
    SliceBurden s;
    s.index = k;
    if (!slice_files.empty()) s.file = slice_files[static_cast<size_t>(k)];
    s.lesion_pixels = n;
    s.lesion_area_mm2 = static_cast<double>(n) * pixel_mm2;
    s.lesion_fraction = plane > 0 ? static_cast<double>(n) / static_cast<double>(plane) : 0.0;
    b.slices.push_back(s);
    b.lesion_voxels += n;
    if (n > 0) b.slices_with_lesions.push_back(k);
  }
  b.lesion_volume_ml = b.has_spacing ? static_cast<double>(b.lesion_voxels) * pixel_mm2 * b.spacing_mm[2] / 1000.0 : nan;
  b.lesion_fraction = g.voxels() > 0 ? static_cast<double>(b.lesion_voxels) / static_cast<double>(g.voxels()) : 0.0;
  return b;
}

static nlohmann::json burden_object(const LesionBurden& b) {
  using nlohmann::json;
  json slices = json::array();
  for (const SliceBurden& s : b.slices) {
    json o = {{"index", s.index}, {"lesion_pixels", s.lesion_pixels}, {"lesion_area_mm2", number_or_null(s.lesion_area_mm2)},
              {"lesion_fraction", s.lesion_fraction}};
    if (!s.file.empty()) o["file"] = s.file;
    slices.push_back(o);
  }
  json out = {{"input", b.input},
              {"size", {b.ni, b.nj, b.nk}},
              {"spacing_mm", b.has_spacing ? json(b.spacing_mm) : json(nullptr)},
              {"lesion_voxels", b.lesion_voxels},
              {"lesion_volume_ml", number_or_null(b.lesion_volume_ml)},
              {"lesion_fraction", b.lesion_fraction},
              {"slice_count", b.nk},
              {"slices_with_lesions", static_cast<int64_t>(b.slices_with_lesions.size())},
              {"lesion_slices", b.slices_with_lesions},
              {"slices", slices}};
  return out;
}

std::string lesion_burden_json(const LesionBurden& b) { return burden_object(b).dump(2) + "\n"; }

std::string segment_report_json(const std::vector<LesionBurden>& burdens, const std::string& model,
                                const std::string& input, const std::vector<std::string>& ensemble) {
  nlohmann::json j;
  if (burdens.size() == 1) {
    j = burden_object(burdens.front());
    j["model"] = model;
  } else {
    nlohmann::json all = nlohmann::json::array();
    int64_t total = 0;
    for (const LesionBurden& b : burdens) {
      all.push_back(burden_object(b));
      total += b.lesion_voxels;
    }
    j = nlohmann::json{{"model", model}, {"input", input}, {"images", all}, {"lesion_pixels", total}};
  }
  if (!ensemble.empty()) j["ensemble"] = ensemble;
  return j.dump(2) + "\n";
}

std::string format_lesion_burden(const LesionBurden& b, int max_lines) {
  std::ostringstream os;
  char buf[256];
  if (b.has_spacing)
    std::snprintf(buf, sizeof buf, "lesion burden: %.2f mL (%lld voxels of %.3g x %.3g x %.3g mm, %.2f %% of the volume), %zu of %lld slices with lesions\n",
                  b.lesion_volume_ml, static_cast<long long>(b.lesion_voxels), b.spacing_mm[0], b.spacing_mm[1],
                  b.spacing_mm[2], 100.0 * b.lesion_fraction, b.slices_with_lesions.size(), static_cast<long long>(b.nk));
  else
    std::snprintf(buf, sizeof buf, "lesion burden: %lld pixels (%.2f %% of the image; no pixel spacing), %zu of %lld slices with lesions\n",
                  static_cast<long long>(b.lesion_voxels), 100.0 * b.lesion_fraction, b.slices_with_lesions.size(),
                  static_cast<long long>(b.nk));
  os << buf;
  int lines = 0;
  for (int64_t k : b.slices_with_lesions) {
    if (lines == max_lines) {
      if (max_lines > 0)
        os << "  ... (" << b.slices_with_lesions.size() - static_cast<size_t>(max_lines) << " more slices in the report)\n";
      break;
    }
    const SliceBurden& s = b.slices[static_cast<size_t>(k)];
    if (b.has_spacing)
      std::snprintf(buf, sizeof buf, "  slice %4lld: %10.1f mm^2  %6.2f %%", static_cast<long long>(k), s.lesion_area_mm2,
                    100.0 * s.lesion_fraction);
    else
      std::snprintf(buf, sizeof buf, "  slice %4lld: %10lld px  %6.2f %%", static_cast<long long>(k),
                    static_cast<long long>(s.lesion_pixels), 100.0 * s.lesion_fraction);
    os << buf << (s.file.empty() ? "" : "  " + s.file) << "\n";
    ++lines;
  }
  return os.str();
}

}  // namespace srmds
