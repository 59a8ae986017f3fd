// A minimal PNG encoder for tests (independent of stb): any colour type and bit depth, filter 0,
// one IDAT chunk compressed with zlib, correct CRCs. Samples are given as integers, one per
// channel, row-major; for palette images `palette` holds RGB triples.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace srmds::test {

inline void png_chunk(std::vector<uint8_t>& out, const char* type, const std::vector<uint8_t>& data) {
  auto put32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
  };
  put32(static_cast<uint32_t>(data.size()));
  std::vector<uint8_t> td(type, type + 4);
  td.insert(td.end(), data.begin(), data.end());
  out.insert(out.end(), td.begin(), td.end());
  put32(static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), td.data(), static_cast<uInt>(td.size()))));
}

inline std::vector<uint8_t> encode_png(int width, int height, int bit_depth, int colour_type,
                                       const std::vector<uint32_t>& samples, const std::vector<uint8_t>& palette = {}) {
  const int channels = colour_type == 0 ? 1 : colour_type == 2 ? 3 : colour_type == 3 ? 1 : colour_type == 4 ? 2 : 4;
  std::vector<uint8_t> raw;
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);  // filter: none
    uint32_t acc = 0;
    int bits = 0;
    for (int x = 0; x < width * channels; ++x) {
      const uint32_t v = samples[static_cast<size_t>(y) * static_cast<size_t>(width * channels) + static_cast<size_t>(x)];
      if (bit_depth == 16) {
        raw.push_back(static_cast<uint8_t>(v >> 8));
        raw.push_back(static_cast<uint8_t>(v));
      } else if (bit_depth == 8) {
        raw.push_back(static_cast<uint8_t>(v));
      } else {
        acc = (acc << bit_depth) | (v & ((1u << bit_depth) - 1));
        bits += bit_depth;
        if (bits == 8) {
          raw.push_back(static_cast<uint8_t>(acc));
          acc = 0;
          bits = 0;
        }
      }
    }
    if (bits > 0) raw.push_back(static_cast<uint8_t>(acc << (8 - bits)));
  }
  uLongf zlen = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> z(zlen);
  compress2(z.data(), &zlen, raw.data(), static_cast<uLong>(raw.size()), 6);
  z.resize(zlen);
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> ihdr;
  for (uint32_t v : {static_cast<uint32_t>(width), static_cast<uint32_t>(height)})
    for (int s = 24; s >= 0; s -= 8) ihdr.push_back(static_cast<uint8_t>(v >> s));
  ihdr.insert(ihdr.end(), {static_cast<uint8_t>(bit_depth), static_cast<uint8_t>(colour_type), 0, 0, 0});
  png_chunk(out, "IHDR", ihdr);
  if (colour_type == 3) png_chunk(out, "PLTE", palette);
  png_chunk(out, "IDAT", z);
  png_chunk(out, "IEND", {});
  return out;
}

// 24 x 16 grey baseline JPEG (libjpeg, quality 95) of the gradient 8 x + 4 y.
inline const std::vector<uint8_t>& small_grey_jpeg() {
  static const std::vector<uint8_t> bytes = {
#include "small_grey_jpeg.inc"
  };
  return bytes;
}

}  // namespace srmds::test
