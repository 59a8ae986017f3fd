// Checks of compressed DICOM pixel data before GDCM's codecs decode it (see io/dicom.hpp). GDCM's
// JPEG 2000 and RLE decoders write past their buffers when a codestream disagrees with the DICOM
// attributes (measured: segmentation faults on mutated files), so the frame header of each
// codestream must agree with Rows, Columns, one component and BitsAllocated first:
//   JPEG (ISO 10918, also lossless) and JPEG-LS: the SOF / SOF55 segment of the first fragment;
//   JPEG 2000: a raw codestream (SOC, then SIZ) with one component, size and precision as declared;
//   RLE: one fragment; a 64-byte header with BitsAllocated / 8 segments at increasing offsets
//   inside the fragment; each segment's PackBits runs decode to exactly rows x columns bytes.
// Precision p of the codestream must need the declared BitsAllocated (p <= 8: 8, p <= 16: 16).
#include <cstring>
#include <ios>

#include "dicom_detail.hpp"
#include "srmds/core/error.hpp"

namespace srmds::io::detail {

namespace {

unsigned be16(const uint8_t* q) { return static_cast<unsigned>(q[0] << 8 | q[1]); }
uint32_t be32(const uint8_t* q) { return uint32_t{q[0]} << 24 | uint32_t{q[1]} << 16 | uint32_t{q[2]} << 8 | q[3]; }
uint32_t le32(const uint8_t* q) { return uint32_t{q[0]} | uint32_t{q[1]} << 8 | uint32_t{q[2]} << 16 | uint32_t{q[3]} << 24; }

void check_frame(const DicomSliceHeader& h, const char* what, unsigned width, unsigned height, unsigned components,
                 unsigned precision) {
  const std::string& name = h.path;
  if (components != 1)
    SRMDS_THROW("DICOM '" << name << "': the " << what << " codestream has " << components << " components (grey images have 1)");
  if (width != static_cast<unsigned>(h.columns) || height != static_cast<unsigned>(h.rows))
    SRMDS_THROW("DICOM '" << name << "': the " << what << " codestream is " << height << " x " << width << ", the header says "
                          << h.rows << " x " << h.columns);
  const int need = precision <= 8 ? 8 : precision <= 16 ? 16 : 32;
  if (precision < 1 || precision > 32 || need != h.bits_allocated)
    SRMDS_THROW("DICOM '" << name << "': the " << what << " codestream has " << precision
                          << "-bit samples, the header says BitsAllocated " << h.bits_allocated);
}

// Every segment up to the first scan must follow the previous one directly (0xFF fill bytes
// aside), with exactly one frame header and a JFIF APP0 of major version 1: GDCM's JPEG codecs
// abort (assert) on any warning libjpeg gives while reading the header, such as extraneous bytes
// before a marker (found by test_dicom's mutation fuzz).
void check_jpeg(const uint8_t* p, size_t n, const DicomSliceHeader& h, bool jpeg_ls) {
  const char* what = jpeg_ls ? "JPEG-LS" : "JPEG";
  if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) SRMDS_THROW("DICOM '" << h.path << "': the " << what << " data does not start with SOI");
  size_t pos = 2;
  bool frame = false;
  while (true) {
    if (pos + 4 > n) SRMDS_THROW("DICOM '" << h.path << "': no " << what << " scan in the first fragment");
    if (p[pos] != 0xFF) SRMDS_THROW("DICOM '" << h.path << "': corrupt " << what << " data (no marker at byte " << pos << ")");
    const uint8_t m = p[pos + 1];
    if (m == 0xFF) {
      ++pos;
      continue;
    }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD9))
      SRMDS_THROW("DICOM '" << h.path << "': corrupt " << what << " data (marker 0x" << std::hex << unsigned{m} << std::dec
                            << " before the first scan, at byte " << pos << ")");
    const unsigned len = be16(p + pos + 2);
    if (len < 2 || len > n - pos - 2)
      SRMDS_THROW("DICOM '" << h.path << "': corrupt " << what << " data (segment at byte " << pos << " runs past the fragment)");
    const bool sof = (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) || m == 0xF7;
    if (sof) {
      if (frame) SRMDS_THROW("DICOM '" << h.path << "': the " << what << " data has two frame headers");
      if (len < 8) SRMDS_THROW("DICOM '" << h.path << "': corrupt " << what << " frame header");
      if ((m == 0xF7) != jpeg_ls)
        SRMDS_THROW("DICOM '" << h.path << "': the frame header does not match the " << what << " transfer syntax");
      check_frame(h, what, be16(p + pos + 7), be16(p + pos + 5), p[pos + 9], p[pos + 4]);
      frame = true;
    }
    if (m == 0xE0 && len >= 9 && std::memcmp(p + pos + 4, "JFIF\0", 5) == 0 && p[pos + 9] != 1)
      SRMDS_THROW("DICOM '" << h.path << "': the " << what << " data has a JFIF header of version " << unsigned{p[pos + 9]});
    if (m == 0xDA) {
      if (!frame) SRMDS_THROW("DICOM '" << h.path << "': no " << what << " frame header before the scan");
      return;
    }
    pos += 2 + len;
  }
}

void check_j2k(const uint8_t* p, size_t n, const DicomSliceHeader& h) {
  if (n < 4 || be16(p) != 0xFF4F || be16(p + 2) != 0xFF51)
    SRMDS_THROW("DICOM '" << h.path << "': the JPEG 2000 data is not a raw codestream (SOC, SIZ)");
  if (n < 4 + 2 + 38 + 3) SRMDS_THROW("DICOM '" << h.path << "': truncated JPEG 2000 header");
  const uint8_t* s = p + 4;  // Lsiz
  const unsigned lsiz = be16(s);
  const unsigned csiz = be16(s + 36);
  if (lsiz != 38 + 3 * csiz || n < 4 + lsiz) SRMDS_THROW("DICOM '" << h.path << "': corrupt JPEG 2000 SIZ segment");
  const uint32_t xsiz = be32(s + 4), ysiz = be32(s + 8), xo = be32(s + 12), yo = be32(s + 16);
  if (xo > xsiz || yo > ysiz) SRMDS_THROW("DICOM '" << h.path << "': corrupt JPEG 2000 image offsets");
  const unsigned ssiz = csiz >= 1 ? s[38] : 0;
  const unsigned xr = csiz >= 1 ? s[39] : 0, yr = csiz >= 1 ? s[40] : 0;
  if (csiz >= 1 && (xr != 1 || yr != 1)) SRMDS_THROW("DICOM '" << h.path << "': subsampled JPEG 2000 components are not supported");
  check_frame(h, "JPEG 2000", xsiz - xo, ysiz - yo, csiz, (ssiz & 0x7F) + 1);
}

void check_rle(const uint8_t* p, size_t n, const DicomSliceHeader& h) {
  const std::string& name = h.path;
  if (n < 64) SRMDS_THROW("DICOM '" << name << "': truncated RLE header");
  const uint32_t segments = le32(p);
  if (segments != static_cast<uint32_t>(h.bits_allocated / 8))
    SRMDS_THROW("DICOM '" << name << "': RLE data has " << segments << " segments, " << h.bits_allocated << "-bit grey needs "
                          << h.bits_allocated / 8);
  const size_t want = static_cast<size_t>(h.rows) * static_cast<size_t>(h.columns);
  for (uint32_t s = 0; s < segments; ++s) {
    const size_t begin = le32(p + 4 + 4 * s);
    const size_t end = s + 1 < segments ? le32(p + 8 + 4 * s) : n;
    if (begin < 64 || begin >= end || end > n)
      SRMDS_THROW("DICOM '" << name << "': RLE segment " << s << " offsets " << begin << ".." << end << " are invalid");
    size_t out = 0, q = begin;
    while (out < want) {
      if (q >= end) SRMDS_THROW("DICOM '" << name << "': RLE segment " << s << " ends after " << out << " of " << want << " bytes");
      const int c = static_cast<int8_t>(p[q++]);
      size_t run = 0;
      if (c >= 0) {
        run = static_cast<size_t>(c) + 1;
        if (run > end - q) SRMDS_THROW("DICOM '" << name << "': RLE segment " << s << " is truncated");
        q += run;
      } else if (c != -128) {
        run = static_cast<size_t>(1 - c);
        if (q >= end) SRMDS_THROW("DICOM '" << name << "': RLE segment " << s << " is truncated");
        ++q;
      }
      if (run > want - out) SRMDS_THROW("DICOM '" << name << "': RLE segment " << s << " decodes to more than " << want << " bytes");
      out += run;
    }
  }
}

}  // namespace

void check_codestream(const uint8_t* bytes, size_t size, const DicomWalk& walk, const DicomSliceHeader& h) {
  if (!walk.encapsulated) return;
  if (walk.fragments.empty()) SRMDS_THROW("DICOM '" << h.path << "': compressed pixel data without fragments");
  const DicomFragment& f = walk.fragments.front();
  if (f.offset > size || f.length > size - f.offset) SRMDS_THROW("DICOM '" << h.path << "': internal error: fragment outside the file");
  const uint8_t* p = bytes + f.offset;
  const std::string& ts = walk.transfer_syntax;
  if (ts == "1.2.840.10008.1.2.5") {
    if (walk.fragments.size() != 1)
      SRMDS_THROW("DICOM '" << h.path << "': RLE pixel data in " << walk.fragments.size() << " fragments (one frame: one fragment)");
    check_rle(p, f.length, h);
  } else if (ts == "1.2.840.10008.1.2.4.90" || ts == "1.2.840.10008.1.2.4.91") {
    check_j2k(p, f.length, h);
  } else {
    check_jpeg(p, f.length, h, ts == "1.2.840.10008.1.2.4.80" || ts == "1.2.840.10008.1.2.4.81");
  }
}

}  // namespace srmds::io::detail
