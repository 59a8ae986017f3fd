// PNG overlays through stb_image_write (see io/png.hpp).
#include "srmds/io/png.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "srmds/core/error.hpp"
#include "srmds/io/atomic_file.hpp"

namespace srmds::io {

namespace {

uint8_t gray(float v) {
  if (!(v > 0.0f)) return 0;  // NaN too
  if (v >= 1.0f) return 255;
  return static_cast<uint8_t>(std::lround(255.0 * v));
}

// 1 where mask is set and a 4-neighbour is unset or outside the image.
std::vector<uint8_t> outline(const uint8_t* mask, int H, int W) {
  std::vector<uint8_t> out(static_cast<size_t>(H) * static_cast<size_t>(W), 0);
  auto at = [&](int y, int x) { return mask[static_cast<size_t>(y) * static_cast<size_t>(W) + static_cast<size_t>(x)] != 0; };
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      if (!at(y, x)) continue;
      const bool edge = y == 0 || x == 0 || y == H - 1 || x == W - 1 || !at(y - 1, x) || !at(y + 1, x) ||
                        !at(y, x - 1) || !at(y, x + 1);
      out[static_cast<size_t>(y) * static_cast<size_t>(W) + static_cast<size_t>(x)] = edge ? 1 : 0;
    }
  return out;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}

// rgb (H, W, channels) -> PNG file, enlarged `scale` times.
void write_png(const std::string& path, const std::vector<uint8_t>& pixels, int H, int W, int channels, int scale) {
  const int OH = H * scale, OW = W * scale;
  std::vector<uint8_t> big(static_cast<size_t>(OH) * static_cast<size_t>(OW) * static_cast<size_t>(channels));
  for (int y = 0; y < OH; ++y)
    for (int x = 0; x < OW; ++x)
      for (int c = 0; c < channels; ++c)
        big[(static_cast<size_t>(y) * static_cast<size_t>(OW) + static_cast<size_t>(x)) * static_cast<size_t>(channels) +
            static_cast<size_t>(c)] =
            pixels[(static_cast<size_t>(y / scale) * static_cast<size_t>(W) + static_cast<size_t>(x / scale)) *
                       static_cast<size_t>(channels) +
                   static_cast<size_t>(c)];
  std::vector<unsigned char> encoded;
  if (!stbi_write_png_to_func(append_bytes, &encoded, OW, OH, channels, big.data(), OW * channels) || encoded.empty())
    SRMDS_THROW("PNG '" << path << "': encoding a " << OW << " x " << OH << " image failed");
  try {
    write_bytes_atomic(path, encoded.data(), encoded.size());
  } catch (const Error& e) {
    SRMDS_THROW("PNG '" << path << "': " << e.what());
  }
}

void check_args(const char* op, const std::string& path, const float* image, int H, int W, int scale) {
  SRMDS_CHECK(image != nullptr, op << " '" << path << "': no image");
  SRMDS_CHECK(H > 0 && W > 0 && scale >= 1 && static_cast<int64_t>(H) * scale <= 65535 &&
                  static_cast<int64_t>(W) * scale <= 65535,
              op << " '" << path << "': invalid size " << H << " x " << W << " at scale " << scale);
}

}  // namespace

void write_overlay_png(const std::string& path, const float* image, int H, int W, const uint8_t* predicted,
                       const uint8_t* truth, int scale) {
  check_args("write_overlay_png", path, image, H, W, scale);
  SRMDS_CHECK(predicted != nullptr, "write_overlay_png '" << path << "': no predicted mask");
  const size_t n = static_cast<size_t>(H) * static_cast<size_t>(W);
  const std::vector<uint8_t> pred_edge = outline(predicted, H, W);
  const std::vector<uint8_t> true_edge = truth ? outline(truth, H, W) : std::vector<uint8_t>(n, 0);
  std::vector<uint8_t> rgb(n * 3);
  for (size_t i = 0; i < n; ++i) {
    uint8_t r = gray(image[i]), g = r, b = r;
    if (pred_edge[i] && true_edge[i]) {
      r = 255, g = 255, b = 0;  // yellow: both
    } else if (pred_edge[i]) {
      r = 255, g = 0, b = 0;  // red: prediction
    } else if (true_edge[i]) {
      r = 0, g = 255, b = 0;  // green: ground truth
    }
    rgb[3 * i] = r;
    rgb[3 * i + 1] = g;
    rgb[3 * i + 2] = b;
  }
  write_png(path, rgb, H, W, 3, scale);
}

void write_gray_png(const std::string& path, const float* image, int H, int W, int scale) {
  check_args("write_gray_png", path, image, H, W, scale);
  const size_t n = static_cast<size_t>(H) * static_cast<size_t>(W);
  std::vector<uint8_t> g(n);
  for (size_t i = 0; i < n; ++i) g[i] = gray(image[i]);
  write_png(path, g, H, W, 1, scale);
}

void write_gray8_png(const std::string& path, const uint8_t* pixels, int H, int W) {
  SRMDS_CHECK(pixels != nullptr, "write_gray8_png '" << path << "': no pixels");
  SRMDS_CHECK(H > 0 && W > 0 && H <= 65535 && W <= 65535, "write_gray8_png '" << path << "': invalid size " << H << " x " << W);
  const std::vector<uint8_t> g(pixels, pixels + static_cast<size_t>(H) * static_cast<size_t>(W));
  write_png(path, g, H, W, 1, 1);
}

}  // namespace srmds::io
