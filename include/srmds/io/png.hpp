// PNG overlays of CT slices (SPEC §8 `--png-dir`, demo): an RGB image whose gray level is
// round(255 * clamp(image, 0, 1)) (a windowed slice), with the outline of the predicted lesion mask
// drawn in red and, optionally, the ground-truth outline in green (yellow where both outlines meet).
// Outline pixels: mask pixels with a 4-neighbour outside the mask or on the image border.
// `scale` >= 1 enlarges the picture by pixel replication (outlines stay one source pixel wide).
// Encoded in memory with stb_image_write, then written atomically (io/atomic_file.hpp).
#pragma once

#include <cstdint>
#include <string>

namespace srmds::io {

// image (H, W) row-major in [0, 1]; predicted and truth (H, W), non-zero = lesion; truth may be null.
void write_overlay_png(const std::string& path, const float* image, int height, int width, const uint8_t* predicted,
                       const uint8_t* truth = nullptr, int scale = 1);

// Gray-scale PNG of an (H, W) image in [0, 1].
void write_gray_png(const std::string& path, const float* image, int height, int width, int scale = 1);

// 8-bit grey PNG of (H, W) bytes as given (a mask as 0/255, SPEC §7).
void write_gray8_png(const std::string& path, const uint8_t* pixels, int height, int width);

}  // namespace srmds::io
