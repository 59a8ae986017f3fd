#include "srmds/data/augment.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>
#include <vector>

#include "srmds/core/error.hpp"

namespace srmds {

void Augmentation::check() const {
  const auto in = [](double v, double lo, double hi, const char* name) {
    SRMDS_CHECK(std::isfinite(v) && v >= lo && v <= hi, "augmentation: " << name << " " << v << " must be in [" << lo
                                                                             << ", " << hi << "]");
  };
  in(rotate_deg, 0, 180, "rotate");
  in(scale, 0, 1, "scale");
  in(deform, 0, 0.25, "deform");
  in(spatial_p, 0, 1, "spatial_p");
  in(gamma, 0, 2, "gamma");
  in(contrast, 0, 1, "contrast");
  in(brightness, 0, 1, "brightness");
  in(intensity_p, 0, 1, "intensity_p");
}

Augmentation parse_augmentation(const std::string& text) {
  Augmentation a;
  if (text.empty() || text == "none") return a;
  if (text == "default") {
    a.rotate_deg = 15;
    a.scale = 0.15;
    a.deform = 0.03;
    a.gamma = 0.3;
    a.contrast = 0.2;
    a.brightness = 0.1;
    return a;
  }
  std::stringstream items(text);
  for (std::string item; std::getline(items, item, ',');) {
    const size_t eq = item.find('=');
    SRMDS_CHECK(eq != std::string::npos, "augmentation: '" << item << "' is not key=value (in '" << text << "')");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(value, &used);
      SRMDS_CHECK(used == value.size(), "");
    } catch (const std::exception&) {
      SRMDS_THROW("augmentation: '" << key << "' = '" << value << "' is not a number");
    }
    double* field = key == "rotate"        ? &a.rotate_deg
                     : key == "scale"       ? &a.scale
                     : key == "deform"      ? &a.deform
                     : key == "spatial_p"   ? &a.spatial_p
                     : key == "gamma"       ? &a.gamma
                     : key == "contrast"    ? &a.contrast
                     : key == "brightness"  ? &a.brightness
                     : key == "intensity_p" ? &a.intensity_p
                                            : nullptr;
    SRMDS_CHECK(field, "augmentation: unknown key '" << key << "' (rotate, scale, deform, spatial_p, gamma, contrast, "
                                                        "brightness, intensity_p)");
    *field = v;
  }
  a.check();
  return a;
}

std::string augmentation_to_string(const Augmentation& a) {
  if (!a.any()) return "none";
  std::ostringstream os;
  os << "rotate=" << a.rotate_deg << ",scale=" << a.scale << ",deform=" << a.deform << ",spatial_p=" << a.spatial_p
     << ",gamma=" << a.gamma << ",contrast=" << a.contrast << ",brightness=" << a.brightness
     << ",intensity_p=" << a.intensity_p;
  return os.str();
}

namespace {

constexpr int kGrid = 4;  // deformation grid points per axis

// Bilinear sample of a (H, W) plane at (y, x), coordinates clamped to the plane (edge replication).
template <class T>
double sample(const T* p, int h, int w, double y, double x) {
  y = std::clamp(y, 0.0, static_cast<double>(h - 1));
  x = std::clamp(x, 0.0, static_cast<double>(w - 1));
  const int y0 = std::min(static_cast<int>(y), h - 1), x0 = std::min(static_cast<int>(x), w - 1);
  const int y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
  const double fy = y - y0, fx = x - x0;
  const auto at = [&](int r, int c) { return static_cast<double>(p[static_cast<int64_t>(r) * w + c]); };
  return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
}

// The grid displacement at pixel (y, x): bilinear over kGrid x kGrid offsets spanning the image.
double grid_offset(const std::array<double, kGrid * kGrid>& g, int h, int w, int y, int x) {
  const double gy = h > 1 ? static_cast<double>(y) * (kGrid - 1) / (h - 1) : 0;
  const double gx = w > 1 ? static_cast<double>(x) * (kGrid - 1) / (w - 1) : 0;
  const int iy = std::min(static_cast<int>(gy), kGrid - 2), ix = std::min(static_cast<int>(gx), kGrid - 2);
  const double fy = gy - iy, fx = gx - ix;
  const auto at = [&](int r, int c) { return g[static_cast<size_t>(r * kGrid + c)]; };
  return (1 - fy) * ((1 - fx) * at(iy, ix) + fx * at(iy, ix + 1)) + fy * ((1 - fx) * at(iy + 1, ix) + fx * at(iy + 1, ix + 1));
}

}  // namespace

void augment_slice(const Augmentation& a, Rng& rng, const float* image, const uint8_t* mask, int height, int width,
                   float* image_out, float* mask_out) {
  const int64_t hw = static_cast<int64_t>(height) * width;
  // Every draw is made whether or not it is used, so that one sample's stream never depends on
  // which transforms happened to apply.
  const bool spatial = a.spatial() && rng.uniform() < a.spatial_p;
  const double theta = rng.uniform(-a.rotate_deg, a.rotate_deg) * 3.14159265358979323846 / 180.0;
  const double k = std::exp(rng.uniform(-1, 1) * std::log1p(a.scale));
  std::array<double, kGrid * kGrid> dy{}, dx{};
  const double sigma = a.deform * std::min(height, width);
  for (size_t i = 0; i < dy.size(); ++i) {
    dy[i] = sigma * rng.normal();
    dx[i] = sigma * rng.normal();
  }
  const bool intensity = a.intensity() && rng.uniform() < a.intensity_p;
  const double g = std::exp(rng.uniform(-1, 1) * std::log1p(a.gamma));
  const double contrast = rng.uniform(1 - a.contrast, 1 + a.contrast);
  const double brightness = rng.uniform(-a.brightness, a.brightness);

  if (spatial) {
    const double cy = 0.5 * (height - 1), cx = 0.5 * (width - 1);
    const double c = std::cos(theta) / k, s = std::sin(theta) / k;
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const double qy = y - cy, qx = x - cx;
        const double sy = cy + c * qy - s * qx + grid_offset(dy, height, width, y, x);
        const double sx = cx + s * qy + c * qx + grid_offset(dx, height, width, y, x);
        const int64_t o = static_cast<int64_t>(y) * width + x;
        image_out[o] = static_cast<float>(sample(image, height, width, sy, sx));
        mask_out[o] = sample(mask, height, width, sy, sx) >= 0.5 ? 1.0f : 0.0f;
      }
  } else {
    for (int64_t i = 0; i < hw; ++i) {
      image_out[i] = image[i];
      mask_out[i] = mask[i];
    }
  }
  if (intensity) {
    double mean = 0;
    for (int64_t i = 0; i < hw; ++i) {
      image_out[i] = static_cast<float>(std::pow(std::clamp(static_cast<double>(image_out[i]), 0.0, 1.0), g));
      mean += image_out[i];
    }
    mean /= static_cast<double>(hw);
    for (int64_t i = 0; i < hw; ++i)
      image_out[i] = static_cast<float>((image_out[i] - mean) * contrast + mean + brightness);
  }
}

}  // namespace srmds
