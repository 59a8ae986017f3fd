// PNG overlays: the file is a PNG of the right size and colour type (signature and IHDR bytes),
// and decodes (stb_image) to the gray slice with red / green / yellow outlines.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "support/testing.hpp"

#include "srmds/core/error.hpp"
#include "srmds/io/png.hpp"

using namespace srmds;
namespace fs = std::filesystem;
using srmds::test::fresh_seed;

namespace {

std::vector<unsigned char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Checks the PNG signature and IHDR; returns the bytes.
std::vector<unsigned char> require_png(const std::string& path, uint32_t width, uint32_t height, int color_type) {
  const auto b = file_bytes(path);
  REQUIRE(b.size() > 33);
  const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  CHECK(std::equal(sig, sig + 8, b.begin()));
  CHECK(be32(&b[8]) == 13);  // IHDR length
  CHECK(std::string(b.begin() + 12, b.begin() + 16) == "IHDR");
  CHECK(be32(&b[16]) == width);
  CHECK(be32(&b[20]) == height);
  CHECK(b[24] == 8);  // bit depth
  CHECK(b[25] == color_type);
  return b;
}

}  // namespace

TEST_CASE("overlay PNG: size, gray levels and outline colours", "[png]") {
  const fs::path dir = fs::temp_directory_path() / ("srmds_png_" + std::to_string(::getpid()) + "_" + std::to_string(fresh_seed()));
  fs::create_directories(dir);
  Rng rng(fresh_seed());
  const int H = 20, W = 30;
  std::vector<float> img(static_cast<size_t>(H * W));
  for (auto& v : img) v = static_cast<float>(rng.uniform(-0.2, 1.2));  // clamped to [0, 1]
  // Prediction: rows 4..12, cols 5..16; truth: rows 4..12, cols 10..25 (the top edges coincide).
  std::vector<uint8_t> pred(img.size(), 0), truth(img.size(), 0);
  for (int y = 4; y <= 12; ++y) {
    for (int x = 5; x <= 16; ++x) pred[static_cast<size_t>(y * W + x)] = 1;
    for (int x = 10; x <= 25; ++x) truth[static_cast<size_t>(y * W + x)] = 7;  // any non-zero
  }
  auto on_edge = [&](const std::vector<uint8_t>& m, int y, int x) {
    if (!m[static_cast<size_t>(y * W + x)]) return false;
    return y == 0 || x == 0 || y == H - 1 || x == W - 1 || !m[static_cast<size_t>((y - 1) * W + x)] ||
           !m[static_cast<size_t>((y + 1) * W + x)] || !m[static_cast<size_t>(y * W + x - 1)] ||
           !m[static_cast<size_t>(y * W + x + 1)];
  };

  for (int scale : {1, 3}) {
    const std::string path = (dir / ("overlay" + std::to_string(scale) + ".png")).string();
    io::write_overlay_png(path, img.data(), H, W, pred.data(), truth.data(), scale);
    const auto bytes = require_png(path, static_cast<uint32_t>(W * scale), static_cast<uint32_t>(H * scale), 2);
    int w = 0, h = 0, c = 0;
    unsigned char* px = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, 3);
    REQUIRE(px != nullptr);
    CHECK(w == W * scale);
    CHECK(h == H * scale);
    int red = 0, green = 0, yellow = 0;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const int sy = y / scale, sx = x / scale;
        const unsigned char* p = px + 3 * (static_cast<size_t>(y) * static_cast<size_t>(w) + static_cast<size_t>(x));
        const bool pe = on_edge(pred, sy, sx), te = on_edge(truth, sy, sx);
        int r, g, b;
        if (pe && te) {
          r = 255, g = 255, b = 0;
          ++yellow;
        } else if (pe) {
          r = 255, g = 0, b = 0;
          ++red;
        } else if (te) {
          r = 0, g = 255, b = 0;
          ++green;
        } else {
          const double v = std::min(std::max(static_cast<double>(img[static_cast<size_t>(sy * W + sx)]), 0.0), 1.0);
          r = g = b = static_cast<int>(std::lround(255.0 * v));
        }
        INFO("pixel (" << y << ", " << x << ") scale " << scale);
        REQUIRE(p[0] == r);
        REQUIRE(p[1] == g);
        REQUIRE(p[2] == b);
      }
    stbi_image_free(px);
    CHECK(red > 0);
    CHECK(green > 0);
    CHECK(yellow > 0);
  }

  // Without ground truth only red outlines; a gray-scale PNG has colour type 0.
  const std::string p2 = (dir / "pred_only.png").string();
  io::write_overlay_png(p2, img.data(), H, W, pred.data());
  const auto b2 = require_png(p2, W, H, 2);
  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load_from_memory(b2.data(), static_cast<int>(b2.size()), &w, &h, &c, 3);
  REQUIRE(px != nullptr);
  const unsigned char* corner = px + 3 * (12 * W + 25);  // truth corner is not drawn (gray, not green)
  CHECK((corner[0] == corner[1] && corner[1] == corner[2]));
  CHECK((px[3 * (4 * W + 5)] == 255 && px[3 * (4 * W + 5) + 1] == 0));  // prediction corner red
  stbi_image_free(px);
  const std::string p3 = (dir / "gray.png").string();
  io::write_gray_png(p3, img.data(), H, W, 2);
  const auto b3 = require_png(p3, 2 * W, 2 * H, 0);
  px = stbi_load_from_memory(b3.data(), static_cast<int>(b3.size()), &w, &h, &c, 1);
  REQUIRE(px != nullptr);
  for (int y = 0; y < 2 * H; ++y)
    for (int x = 0; x < 2 * W; ++x) {
      const double v = std::min(std::max(static_cast<double>(img[static_cast<size_t>((y / 2) * W + x / 2)]), 0.0), 1.0);
      REQUIRE(px[y * w + x] == std::lround(255.0 * v));
    }
  stbi_image_free(px);

  // Bad arguments and unwritable places: srmds::Error naming the file, nothing left behind.
  const size_t before = static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
  CHECK_THROWS_WITH(io::write_overlay_png((dir / "x.png").string(), img.data(), H, W, nullptr), Catch::Contains("x.png") && Catch::Contains("predicted"));
  CHECK_THROWS_WITH(io::write_gray_png((dir / "y.png").string(), img.data(), 0, W), Catch::Contains("y.png") && Catch::Contains("invalid size"));
  CHECK_THROWS_WITH(io::write_gray_png((dir / "no" / "dir" / "z.png").string(), img.data(), H, W), Catch::Contains("z.png"));
  CHECK(static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator())) == before);
  std::error_code ec;
  fs::remove_all(dir, ec);
}
