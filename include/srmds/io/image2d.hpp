// 2-D grey images (SPEC §7 image sets): PNG (1- to 16-bit grey) and JPEG (8-bit grey) slices and
// mask images, decoded with stb_image.
//
// The format is taken from the content (PNG signature, JPEG SOI marker), not the file name.
// Checks before decoding, each an srmds::Error naming the file:
//   PNG: the chunk structure (every chunk inside the file, CRC-32 correct, IHDR first, IEND
//        present: a truncated or corrupted file is caught here), colour type 0 (grey) or 4 (grey +
//        alpha, the alpha being ignored); palette and colour PNGs are errors;
//   JPEG: one component (grey); colour JPEGs are errors; an EOI marker after the first scan
//        (a truncated JPEG decodes silently to grey otherwise); and, after decoding, no scan
//        may need more entropy-coded data than it holds (stb fills the missing blocks with
//        grey): a second decode with other bits after each scan's data must give the same
//        image, and a scan with restart markers must hold all its restart intervals
//        (src/io/image2d.cpp, check_jpeg_complete; a progressive JPEG cut exactly between two
//        scans, each complete, is not told from one with fewer scans);
//   size: at most kMaxImageSide pixels a side and kMaxImagePixels in all.
// Values: 8-bit images (and 1/2/4-bit PNG, scaled to 0..255 as stb does) hold 0..255,
// 16-bit PNG 0..65535, in (H, W) row-major order as stored (row 0 at the top).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace srmds::io {

constexpr int kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;
constexpr int64_t kMaxImageFileBytes = int64_t{1} << 30;

enum class ImageFormat { Png, Jpeg };

struct GreyImage {
  std::string path;
  ImageFormat format = ImageFormat::Png;
  int width = 0, height = 0;
  int bit_depth = 8;               // 8 or 16 (values 0..255 or 0..65535)
  std::vector<uint16_t> pixels;    // (H, W) row-major
};

// True for names ending in .png, .jpg or .jpeg (any case).
bool has_image_extension(const std::string& path);

// Decodes an image held in memory (the entry point for fuzzing); `name` is used in messages.
GreyImage decode_grey_image(const uint8_t* bytes, size_t size, const std::string& name);
// Reads and decodes a file.
GreyImage read_grey_image(const std::string& path);

}  // namespace srmds::io
