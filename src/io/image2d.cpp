// PNG and JPEG grey images through stb_image (see io/image2d.hpp): our own check of the file
// structure first (PNG chunks with CRCs, JPEG markers), then stb's decoder.
#include "srmds/io/image2d.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <tuple>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS 16384
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "srmds/core/error.hpp"

namespace srmds::io {

static_assert(STBI_MAX_DIMENSIONS == kMaxImageSide, "stb's limit is ours");

namespace {

uint32_t be32(const uint8_t* q) { return uint32_t{q[0]} << 24 | uint32_t{q[1]} << 16 | uint32_t{q[2]} << 8 | q[3]; }
unsigned be16(const uint8_t* q) { return static_cast<unsigned>(q[0] << 8 | q[1]); }

struct PngHeader {
  int width = 0, height = 0, bit_depth = 0, colour_type = 0;
};

// Chunk walk: IHDR first (13 bytes), every chunk inside the file with a correct CRC, IEND present.
PngHeader check_png(const uint8_t* p, size_t n, const std::string& name) {
  PngHeader h;
  size_t pos = 8;
  bool first = true;
  while (true) {
    if (pos == n) SRMDS_THROW("PNG '" << name << "': truncated file (no IEND chunk after " << n << " bytes)");
    if (n - pos < 12) SRMDS_THROW("PNG '" << name << "': truncated file (a chunk header at byte " << pos << " is cut off)");
    const uint32_t len = be32(p + pos);
    char type[5] = {0, 0, 0, 0, 0};
    std::memcpy(type, p + pos + 4, 4);
    for (int i = 0; i < 4; ++i)
      if (!std::isalpha(static_cast<unsigned char>(type[i])))
        SRMDS_THROW("PNG '" << name << "': corrupt chunk type at byte " << pos + 4);
    if (len > 0x7FFFFFFFu || len > n - pos - 12)
      SRMDS_THROW("PNG '" << name << "': truncated file (chunk " << type << " of " << len << " bytes at byte " << pos
                          << " runs past the end, " << n << " bytes)");
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), p + pos + 4, static_cast<uInt>(len + 4));
    if (static_cast<uint32_t>(crc) != be32(p + pos + 8 + len))
      SRMDS_THROW("PNG '" << name << "': corrupt file (CRC mismatch in chunk " << type << " at byte " << pos << ")");
    if (first) {
      if (std::strcmp(type, "IHDR") != 0 || len != 13) SRMDS_THROW("PNG '" << name << "': the first chunk is not IHDR");
      const uint8_t* d = p + pos + 8;
      const uint32_t w = be32(d), hh = be32(d + 4);
      if (w == 0 || hh == 0) SRMDS_THROW("PNG '" << name << "': empty image (" << w << " x " << hh << ")");
      if (w > static_cast<uint32_t>(kMaxImageSide) || hh > static_cast<uint32_t>(kMaxImageSide) ||
          static_cast<int64_t>(w) * hh > kMaxImagePixels)
        SRMDS_THROW("PNG '" << name << "': image of " << w << " x " << hh << " pixels is too large (at most " << kMaxImageSide
                            << " a side and " << kMaxImagePixels << " pixels)");
      h.width = static_cast<int>(w);
      h.height = static_cast<int>(hh);
      h.bit_depth = d[8];
      h.colour_type = d[9];
      first = false;
    }
    if (std::strcmp(type, "IEND") == 0) break;
    pos += 12 + len;
  }
  switch (h.colour_type) {
    case 0:
      if (h.bit_depth != 1 && h.bit_depth != 2 && h.bit_depth != 4 && h.bit_depth != 8 && h.bit_depth != 16)
        SRMDS_THROW("PNG '" << name << "': invalid bit depth " << h.bit_depth << " for a grey image");
      break;
    case 4:
      if (h.bit_depth != 8 && h.bit_depth != 16)
        SRMDS_THROW("PNG '" << name << "': invalid bit depth " << h.bit_depth << " for a grey + alpha image");
      break;
    case 2:
    case 6: SRMDS_THROW("PNG '" << name << "': colour image (RGB" << (h.colour_type == 6 ? "A" : "") << "): only grey images are read");
    case 3: SRMDS_THROW("PNG '" << name << "': palette image: only grey images are read (convert it to 8-bit grey)");
    default: SRMDS_THROW("PNG '" << name << "': invalid colour type " << h.colour_type);
  }
  return h;
}

struct JpegHeader {
  int width = 0, height = 0, components = 0, precision = 0;
  std::vector<size_t> scan_ends;  // where each scan's entropy-coded data ends (its next marker)
};

// A DHT segment's tables (class <= 1, id <= 3; at most 256 codes, the code lengths a prefix code
// can have, values inside the segment): stb's Huffman builder trusts them and writes past its
// tables otherwise (found by fuzz_image2d).
void check_jpeg_huffman(const uint8_t* seg, size_t len, size_t at, const std::string& name, bool (&defined)[2][4]) {
  size_t q = 0;
  while (q < len) {
    if (len - q < 17) SRMDS_THROW("JPEG '" << name << "': corrupt Huffman table (truncated, at byte " << at + q << ")");
    const int tc = seg[q] >> 4, th = seg[q] & 15;
    if (tc > 1 || th > 3)
      SRMDS_THROW("JPEG '" << name << "': corrupt Huffman table (class " << tc << ", id " << th << ", at byte " << at + q << ")");
    size_t codes = 0;
    uint32_t space = 1;  // codes still free at the current length, doubled per length
    for (int l = 0; l < 16; ++l) {
      space *= 2;
      const unsigned c = seg[q + 1 + l];
      if (c > space)
        SRMDS_THROW("JPEG '" << name << "': corrupt Huffman table (" << c << " codes of length " << l + 1
                             << " do not fit, at byte " << at + q << ")");
      space -= c;
      codes += c;
    }
    if (codes > 256)
      SRMDS_THROW("JPEG '" << name << "': corrupt Huffman table (" << codes << " codes, at most 256, at byte " << at + q << ")");
    if (len - q - 17 < codes)
      SRMDS_THROW("JPEG '" << name << "': corrupt Huffman table (its values run past the segment, at byte " << at + q << ")");
    defined[tc][th] = true;
    q += 17 + codes;
  }
}

// A scan header: the Huffman tables its decoder will use must have been defined before it (stb
// decodes with whatever memory an undefined table holds; found by fuzz_image2d). A baseline scan
// uses its DC and AC tables; a progressive one its DC table in a first DC scan (Ss = 0, Ah = 0)
// and its AC table in an AC scan (Ss > 0).
void check_jpeg_scan(const uint8_t* seg, size_t len, size_t at, bool progressive, const bool (&defined)[2][4],
                     const std::string& name) {
  const size_t ns = len > 0 ? seg[0] : 0;
  if (ns == 0 || len != 4 + 2 * ns)
    SRMDS_THROW("JPEG '" << name << "': corrupt scan header (" << ns << " components in " << len << " bytes, at byte " << at << ")");
  const int ss = seg[1 + 2 * ns], ah = seg[3 + 2 * ns] >> 4;
  const bool uses_dc = !progressive || (ss == 0 && ah == 0), uses_ac = !progressive || ss > 0;
  for (size_t c = 0; c < ns; ++c) {
    const int td = seg[2 + 2 * c] >> 4, ta = seg[2 + 2 * c] & 15;
    for (const auto& [used, cls, id] : {std::tuple{uses_dc, 0, td}, std::tuple{uses_ac, 1, ta}})
      if (used && (id > 3 || !defined[cls][id]))
        SRMDS_THROW("JPEG '" << name << "': corrupt file (the scan at byte " << at << " uses " << (cls == 0 ? "DC" : "AC")
                             << " Huffman table " << id << ", which is not defined before it)");
  }
}

// Marker walk over the whole file: every segment inside the file, Huffman tables checked, the
// entropy-coded data after each scan skipped to the next marker, up to the end-of-image marker (SOF
// gives size and components).
JpegHeader check_jpeg(const uint8_t* p, size_t n, const std::string& name) {
  JpegHeader h;
  size_t pos = 2;
  bool sof = false, scanned = false, progressive = false;
  unsigned restart_interval = 0;  // MCUs between restart markers (DRI), 0: none
  bool huffman_defined[2][4] = {};
  while (true) {
    if (n - pos < 2) SRMDS_THROW("JPEG '" << name << "': truncated file (no scan after " << n << " bytes)");
    if (p[pos] != 0xFF) SRMDS_THROW("JPEG '" << name << "': corrupt file (no marker at byte " << pos << ")");
    const uint8_t m = p[pos + 1];
    if (m == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
      pos += 2;
      continue;
    }
    if (m == 0xD9) {
      if (scanned) break;
      SRMDS_THROW("JPEG '" << name << "': no image data (end marker before any scan)");
    }
    if (n - pos < 4) SRMDS_THROW("JPEG '" << name << "': truncated file (marker at byte " << pos << ")");
    const unsigned len = be16(p + pos + 2);
    if (len < 2 || len > n - pos - 2)
      SRMDS_THROW("JPEG '" << name << "': truncated file (segment of " << len << " bytes at byte " << pos << " runs past the end)");
    const bool is_sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (is_sof) {
      if (len < 8) SRMDS_THROW("JPEG '" << name << "': corrupt frame header");
      h.precision = p[pos + 4];
      h.height = static_cast<int>(be16(p + pos + 5));
      h.width = static_cast<int>(be16(p + pos + 7));
      h.components = p[pos + 9];
      progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
      sof = true;
    }
    if (m == 0xC4) check_jpeg_huffman(p + pos + 4, len - 2, pos + 4, name, huffman_defined);
    if (m == 0xDD) {
      if (len != 4) SRMDS_THROW("JPEG '" << name << "': corrupt restart interval segment at byte " << pos);
      restart_interval = be16(p + pos + 4);
    }
    if (m == 0xDA) {
      if (!sof) SRMDS_THROW("JPEG '" << name << "': corrupt file (scan before the frame header)");
      check_jpeg_scan(p + pos + 4, len - 2, pos, progressive, huffman_defined, name);
      // The entropy-coded data: up to the next marker (0xFF then neither 0x00 nor a restart marker).
      size_t q = pos + 2 + len;
      int64_t restarts = 0;
      for (; q + 1 < n && !(p[q] == 0xFF && p[q + 1] != 0x00 && !(p[q + 1] >= 0xD0 && p[q + 1] <= 0xD7)); ++q)
        if (p[q] == 0xFF && p[q + 1] >= 0xD0 && p[q + 1] <= 0xD7) ++restarts;
      if (q + 1 >= n) SRMDS_THROW("JPEG '" << name << "': truncated file (no end-of-image marker after the image data)");
      // A scan of one component has one block per MCU; stb leaves the intervals after the last
      // restart marker undecoded (grey) when the data ends early, so count them.
      if (restart_interval > 0 && h.components == 1) {
        const int64_t blocks = (int64_t{h.width} + 7) / 8 * ((int64_t{h.height} + 7) / 8);
        const int64_t intervals = (blocks + restart_interval - 1) / restart_interval;
        if (restarts + 1 < intervals)
          SRMDS_THROW("JPEG '" << name << "': truncated image data (the scan at byte " << pos << " holds " << restarts + 1
                               << " of the " << intervals << " restart intervals its " << h.width << " x " << h.height
                               << " pixels need)");
      }
      h.scan_ends.push_back(q);
      scanned = true;
      pos = q;
      continue;
    }
    pos += 2 + len;
  }
  if (h.components != 1)
    SRMDS_THROW("JPEG '" << name << "': " << (h.components == 3 ? "colour" : std::to_string(h.components) + "-component")
                         << " image: only grey (1-component) JPEGs are read");
  if (h.width == 0 || h.height == 0) SRMDS_THROW("JPEG '" << name << "': empty or unsized image (" << h.width << " x " << h.height << ")");
  if (h.width > kMaxImageSide || h.height > kMaxImageSide || static_cast<int64_t>(h.width) * h.height > kMaxImagePixels)
    SRMDS_THROW("JPEG '" << name << "': image of " << h.width << " x " << h.height << " pixels is too large (at most "
                         << kMaxImageSide << " a side and " << kMaxImagePixels << " pixels)");
  if (h.precision != 8) SRMDS_THROW("JPEG '" << name << "': " << h.precision << "-bit JPEG is not supported (8-bit only)");
  return h;
}

struct StbFree {
  void operator()(void* p) const noexcept { stbi_image_free(p); }
};

// stb decodes a scan whose entropy-coded data runs out before its last block with zero bits (grey
// rows, no error). So the file is decoded a second time with 16 bytes 0xFE (never a marker: stb
// skips them after a complete scan, as any bytes before a marker) put before the marker that ends
// each scan: a decoder that needs more data than a scan holds reads these bits instead of zeros
// and gives another image (or fails). The two images agree exactly when no pixel depends on data
// the file lacks. Restart markers inside a scan are left as they are: stb ends a scan whose data
// stops before its last restart interval at that marker the same way in both decodes, so
// check_jpeg counts the intervals instead.
void check_jpeg_complete(const uint8_t* p, size_t n, const JpegHeader& h, const stbi_uc* decoded, const std::string& name) {
  std::vector<uint8_t> padded;
  padded.reserve(n + 16 * h.scan_ends.size());
  size_t from = 0;
  for (size_t end : h.scan_ends) {
    padded.insert(padded.end(), p + from, p + end);
    padded.insert(padded.end(), 16, 0xFE);
    while (end + 2 < n && p[end + 1] == 0xFF) ++end;  // fill bytes before the marker: its last 0xFF
    from = end;
  }
  padded.insert(padded.end(), p + from, p + n);
  int w = 0, hh = 0, channels = 0;
  std::unique_ptr<stbi_uc, StbFree> again(stbi_load_from_memory(padded.data(), static_cast<int>(padded.size()), &w, &hh, &channels, 1));
  const size_t count = static_cast<size_t>(h.width) * static_cast<size_t>(h.height);
  if (!again || w != h.width || hh != h.height || !std::equal(decoded, decoded + count, again.get()))
    SRMDS_THROW("JPEG '" << name << "': truncated image data (the " << h.width << " x " << h.height
                         << " pixels of its header need more compressed data than the file holds)");
}

}  // namespace

bool has_image_extension(const std::string& path) {
  std::string lower = path;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto ends = [&](const char* ext) {
    const size_t n = std::strlen(ext);
    return lower.size() > n && lower.compare(lower.size() - n, n, ext) == 0;
  };
  return ends(".png") || ends(".jpg") || ends(".jpeg");
}

GreyImage decode_grey_image(const uint8_t* p, size_t n, const std::string& name) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (p == nullptr || n == 0) SRMDS_THROW("image '" << name << "': empty file");
  if (n > static_cast<size_t>(kMaxImageFileBytes))
    SRMDS_THROW("image '" << name << "': file of " << n << " bytes is too large");
  GreyImage img;
  img.path = name;
  int want_w = 0, want_h = 0;
  bool sixteen = false;
  JpegHeader jpeg;
  if (n >= 8 && std::memcmp(p, kPng, 8) == 0) {
    const PngHeader h = check_png(p, n, name);
    img.format = ImageFormat::Png;
    want_w = h.width;
    want_h = h.height;
    sixteen = h.bit_depth == 16;
  } else if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) {
    jpeg = check_jpeg(p, n, name);
    const JpegHeader& h = jpeg;
    img.format = ImageFormat::Jpeg;
    want_w = h.width;
    want_h = h.height;
  } else {
    SRMDS_THROW("image '" << name << "': not a PNG or JPEG file");
  }
  const char* kind = img.format == ImageFormat::Png ? "PNG" : "JPEG";
  int w = 0, h = 0, channels = 0;
  const size_t count = static_cast<size_t>(want_w) * static_cast<size_t>(want_h);
  img.pixels.resize(count);
  if (sixteen) {
    std::unique_ptr<stbi_us, StbFree> px(stbi_load_16_from_memory(p, static_cast<int>(n), &w, &h, &channels, 1));
    if (!px) SRMDS_THROW(kind << " '" << name << "': cannot decode (" << stbi_failure_reason() << ")");
    if (w != want_w || h != want_h) SRMDS_THROW(kind << " '" << name << "': decoded size differs from the header");
    std::copy(px.get(), px.get() + count, img.pixels.begin());
    img.bit_depth = 16;
  } else {
    std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(p, static_cast<int>(n), &w, &h, &channels, 1));
    if (!px) SRMDS_THROW(kind << " '" << name << "': cannot decode (" << stbi_failure_reason() << ")");
    if (w != want_w || h != want_h) SRMDS_THROW(kind << " '" << name << "': decoded size differs from the header");
    if (img.format == ImageFormat::Jpeg) check_jpeg_complete(p, n, jpeg, px.get(), name);
    std::copy(px.get(), px.get() + count, img.pixels.begin());
    img.bit_depth = 8;
  }
  img.width = w;
  img.height = h;
  return img;
}

GreyImage read_grey_image(const std::string& path) {
  // Opening a FIFO blocks until a writer comes, a device reads forever: refused before opening.
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    SRMDS_THROW("image '" << path << "': not a regular file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) SRMDS_THROW("image '" << path << "': cannot open the file");
  const std::streamoff size = in.tellg();
  if (size < 0) SRMDS_THROW("image '" << path << "': cannot read the file size");
  if (size > kMaxImageFileBytes) SRMDS_THROW("image '" << path << "': file of " << size << " bytes is too large");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) SRMDS_THROW("image '" << path << "': read failed");
  return decode_grey_image(bytes.data(), bytes.size(), path);
}

}  // namespace srmds::io
