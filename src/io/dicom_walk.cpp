// The strict walker of the DICOM encoding (see io/dicom.hpp): checks that every element, sequence,
// item and fragment of a file lies inside it and is well formed, before GDCM parses the bytes.
//
// Element headers: tag (4 bytes); explicit VR: VR (2), then a 2-byte length, or for OB OD OF OL OV
// OW SQ SV UC UN UR UT UV 2 reserved bytes and a 4-byte length; implicit VR: a 4-byte length.
// Items and delimiters (FFFE,E000 / E00D / E0DD) have a 4-byte length in every encoding. Undefined
// length (FFFFFFFF) is accepted for sequences (explicit SQ or UN, any implicit element: items
// follow) and for encapsulated pixel data (an offset table item, fragments, a sequence delimiter).
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dicom_detail.hpp"
#include "srmds/core/error.hpp"

namespace srmds::io::detail {

namespace {

constexpr int kMaxDepth = 16;
constexpr uint32_t kUndefined = 0xFFFFFFFFu;

// 0: not a VR, 1: 2-byte length, 2: reserved bytes and 4-byte length.
int vr_kind(const uint8_t* q) {
  static const char* const kShort[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO",
                                       "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"};
  static const char* const kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
  for (const char* v : kShort)
    if (q[0] == static_cast<uint8_t>(v[0]) && q[1] == static_cast<uint8_t>(v[1])) return 1;
  for (const char* v : kLong)
    if (q[0] == static_cast<uint8_t>(v[0]) && q[1] == static_cast<uint8_t>(v[1])) return 2;
  return 0;
}

std::string tag_text(uint16_t g, uint16_t e) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "(%04X,%04X)", g, e);
  return buf;
}

struct Header {
  uint16_t group = 0, element = 0;
  char vr[3] = {0, 0, 0};
  uint32_t length = 0;
  size_t value = 0;  // offset of the value
  bool undefined() const { return length == kUndefined; }
  bool item_tag() const { return group == 0xFFFE; }
};

class Walker {
public:
  // lenient: an unknown or missing transfer syntax is guessed (explicit VR when a VR follows the
  // first data set tag), so that walk_dicom_prefix reaches the attributes of such a file.
  Walker(const uint8_t* p, size_t n, const std::string& name, bool lenient = false)
      : m_p(p), m_n(n), m_name(name), m_lenient(lenient) {}

  // The top-level elements walked so far (all of them after run(), those before its error after a throw).
  DicomWalk take() { return std::move(m_walk); }

  DicomWalk run() {
    size_t pos = 0;
    bool meta = false;
    if (m_n >= 132 && std::memcmp(m_p + 128, "DICM", 4) == 0) {
      pos = 132;
      meta = true;
    } else if (m_n >= 8 && rd16(m_p, false) == 0x0002) {
      meta = true;  // a meta group without the preamble
    }
    if (meta) {
      pos = walk_meta(pos);
      try {
        if (m_walk.transfer_syntax.empty())
          SRMDS_THROW("DICOM '" << m_name << "': the file meta group has no TransferSyntaxUID (0002,0010)");
        set_transfer_syntax();
      } catch (const Error&) {
        if (!m_lenient) throw;
        m_walk.encapsulated = false;
        m_walk.encoding = m_n - pos >= 6 && vr_kind(m_p + pos + 4) != 0 ? DicomEncoding::ExplicitLittle
                                                                         : DicomEncoding::ImplicitLittle;
      }
    } else {
      // No meta group (old ACR-NEMA style): explicit VR when a VR follows the first tag.
      if (m_n < 8) fail(0, "too short for a DICOM file (" + std::to_string(m_n) + " bytes)");
      m_walk.encoding = vr_kind(m_p + 4) != 0 ? DicomEncoding::ExplicitLittle : DicomEncoding::ImplicitLittle;
    }
    if (pos >= m_n) fail(pos, "no data set after the file meta group (truncated file)");
    walk_dataset(pos, m_n, 0, false, m_walk.encoding);
    return std::move(m_walk);
  }

private:
  const uint8_t* m_p;
  size_t m_n;
  const std::string& m_name;
  bool m_lenient;
  DicomWalk m_walk;

  [[noreturn]] void fail(size_t offset, const std::string& what) const {
    SRMDS_THROW("DICOM '" << m_name << "': " << what << " (at byte " << offset << " of " << m_n << ")");
  }

  static uint16_t rd16(const uint8_t* q, bool big) {
    return big ? static_cast<uint16_t>(q[0] << 8 | q[1]) : static_cast<uint16_t>(q[0] | q[1] << 8);
  }
  static uint32_t rd32(const uint8_t* q, bool big) {
    return big ? (uint32_t{q[0]} << 24 | uint32_t{q[1]} << 16 | uint32_t{q[2]} << 8 | q[3])
               : (uint32_t{q[0]} | uint32_t{q[1]} << 8 | uint32_t{q[2]} << 16 | uint32_t{q[3]} << 24);
  }

  void need(size_t pos, size_t bytes, size_t end, const char* what) const {
    if (pos > end || bytes > end - pos)
      fail(pos, std::string(what) + " runs past the end of " + (end == m_n ? "the file (truncated file)" : "its item"));
  }

  Header read_header(size_t pos, size_t end, DicomEncoding enc) const {
    const bool big = enc == DicomEncoding::ExplicitBig;
    need(pos, 8, end, "an element header");
    Header h;
    h.group = rd16(m_p + pos, big);
    h.element = rd16(m_p + pos + 2, big);
    if (h.item_tag() || enc == DicomEncoding::ImplicitLittle) {
      h.length = rd32(m_p + pos + 4, big);
      h.value = pos + 8;
      return h;
    }
    const int kind = vr_kind(m_p + pos + 4);
    if (kind == 0) {
      char vr[8];
      std::snprintf(vr, sizeof vr, "%02X %02X", m_p[pos + 4], m_p[pos + 5]);
      fail(pos, "element " + tag_text(h.group, h.element) + " has an invalid VR (bytes " + vr + ")");
    }
    h.vr[0] = static_cast<char>(m_p[pos + 4]);
    h.vr[1] = static_cast<char>(m_p[pos + 5]);
    if (kind == 1) {
      h.length = rd16(m_p + pos + 6, big);
      h.value = pos + 8;
    } else {
      need(pos, 12, end, "an element header");
      h.length = rd32(m_p + pos + 8, big);
      h.value = pos + 12;
    }
    return h;
  }

  size_t walk_meta(size_t pos) {
    uint32_t prev = 0;
    bool first = true;
    while (pos + 2 <= m_n && rd16(m_p + pos, false) == 0x0002) {
      const Header h = read_header(pos, m_n, DicomEncoding::ExplicitLittle);
      const uint32_t tag = uint32_t{h.group} << 16 | h.element;
      if (!first && tag <= prev) fail(pos, "file meta element " + tag_text(h.group, h.element) + " out of order");
      if (h.undefined()) fail(pos, "file meta element " + tag_text(h.group, h.element) + " has an undefined length");
      // The file meta group holds no sequences (PS3.10 table 7.1-1); GDCM aborts on one.
      if (std::strcmp(h.vr, "SQ") == 0) fail(pos, "file meta element " + tag_text(h.group, h.element) + " is a sequence");
      need(h.value, h.length, m_n, ("file meta element " + tag_text(h.group, h.element)).c_str());
      if (h.element == 0x0010) {
        std::string ts(reinterpret_cast<const char*>(m_p + h.value), h.length);
        while (!ts.empty() && (ts.back() == '\0' || ts.back() == ' ')) ts.pop_back();
        m_walk.transfer_syntax = ts;
      }
      prev = tag;
      first = false;
      pos = h.value + h.length;
    }
    return pos;
  }

  void set_transfer_syntax() {
    const std::string& ts = m_walk.transfer_syntax;
    if (ts == "1.2.840.10008.1.2") {
      m_walk.encoding = DicomEncoding::ImplicitLittle;
    } else if (ts == "1.2.840.10008.1.2.1") {
      m_walk.encoding = DicomEncoding::ExplicitLittle;
    } else if (ts == "1.2.840.10008.1.2.2") {
      m_walk.encoding = DicomEncoding::ExplicitBig;
    } else if (ts == "1.2.840.10008.1.2.1.99") {
      SRMDS_THROW("DICOM '" << m_name << "': deflated transfer syntax (" << ts << ") is not supported");
    } else {
      static const char* const kEncapsulated[] = {
          "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
          "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
          "1.2.840.10008.1.2.5"};
      const bool known = std::find(std::begin(kEncapsulated), std::end(kEncapsulated), ts) != std::end(kEncapsulated);
      std::string shown = ts;
      for (char& ch : shown)
        if (static_cast<unsigned char>(ch) < 32 || static_cast<unsigned char>(ch) > 126) ch = '?';
      if (!known)
        SRMDS_THROW("DICOM '" << m_name << "': unsupported transfer syntax '" << shown
                              << "' (supported: implicit/explicit VR little endian, explicit big endian, JPEG, "
                                 "JPEG-LS, JPEG 2000, RLE)");
      m_walk.encoding = DicomEncoding::ExplicitLittle;
      m_walk.encapsulated = true;
    }
  }

  // Elements of a data set in [pos, end); with `until_delimiter` the set ends at an item delimiter
  // (returns the offset after it), else exactly at `end`.
  size_t walk_dataset(size_t pos, size_t end, int depth, bool until_delimiter, DicomEncoding enc) {
    uint32_t prev = 0;
    bool first = true;
    while (pos < end) {
      const Header h = read_header(pos, end, enc);
      if (h.item_tag()) {
        if (until_delimiter && h.element == 0xE00D) {
          if (h.length != 0) fail(pos, "item delimiter with a non-zero length");
          return h.value;
        }
        fail(pos, "unexpected item tag " + tag_text(h.group, h.element) + " inside a data set");
      }
      const uint32_t tag = uint32_t{h.group} << 16 | h.element;
      if (!first && tag <= prev)
        fail(pos, "element " + tag_text(h.group, h.element) + " out of order (after " +
                      tag_text(static_cast<uint16_t>(prev >> 16), static_cast<uint16_t>(prev & 0xFFFF)) + ")");
      if (depth == 0 && h.group == 0x0002) fail(pos, "file meta element " + tag_text(h.group, h.element) + " inside the data set");
      prev = tag;
      first = false;
      const bool explicit_vr = enc != DicomEncoding::ImplicitLittle;
      const bool pixel_data = depth == 0 && tag == 0x7FE00010u;
      size_t next = 0;
      if (h.undefined()) {
        const bool sq = std::strcmp(h.vr, "SQ") == 0, un = std::strcmp(h.vr, "UN") == 0;
        if (pixel_data && m_walk.encapsulated && explicit_vr && (std::strcmp(h.vr, "OB") == 0 || std::strcmp(h.vr, "OW") == 0)) {
          next = walk_fragments(h.value, end, enc);
        } else if (!pixel_data && (!explicit_vr || sq || un)) {
          // Items of an explicit UN sequence are implicit VR little endian.
          next = walk_sequence(h.value, end, true, depth + 1, un ? DicomEncoding::ImplicitLittle : enc, h);
        } else {
          fail(pos, "element " + tag_text(h.group, h.element) + (h.vr[0] ? std::string(" (VR ") + h.vr + ")" : "") +
                        " has an undefined length");
        }
      } else {
        if (h.length % 2 != 0)
          fail(pos, "element " + tag_text(h.group, h.element) + " has an odd length " + std::to_string(h.length));
        need(h.value, h.length, end, ("the value of element " + tag_text(h.group, h.element)).c_str());
        if (explicit_vr && std::strcmp(h.vr, "SQ") == 0 && h.length > 0)
          walk_sequence(h.value, h.value + h.length, false, depth + 1, enc, h);
        if (pixel_data && m_walk.encapsulated)
          fail(pos, "pixel data of defined length in a compressed transfer syntax (" + m_walk.transfer_syntax + ")");
        next = h.value + h.length;
      }
      if (depth == 0) {
        DicomElement el;
        el.group = h.group;
        el.element = h.element;
        std::memcpy(el.vr, h.vr, 3);
        el.value_offset = h.value;
        el.length = h.undefined() ? 0 : h.length;
        el.undefined_length = h.undefined();
        m_walk.elements.push_back(el);
      }
      pos = next;
    }
    if (until_delimiter) fail(pos, "an item of undefined length ends without its delimiter (truncated file)");
    return pos;
  }

  // Items of a sequence starting at pos; defined length: exactly [pos, end); undefined: up to
  // the sequence delimiter (returns the offset after it).
  size_t walk_sequence(size_t pos, size_t end, bool undefined, int depth, DicomEncoding enc, const Header& owner) {
    if (depth > kMaxDepth)
      fail(pos, "sequences nested more than " + std::to_string(kMaxDepth) + " deep");
    const std::string what = "sequence " + tag_text(owner.group, owner.element);
    while (true) {
      if (pos == end) {
        if (undefined) fail(pos, what + " ends without its delimiter (truncated file)");
        return pos;
      }
      const Header h = read_header(pos, end, enc);
      if (!h.item_tag()) fail(pos, what + ": expected an item, found " + tag_text(h.group, h.element));
      if (h.element == 0xE0DD) {
        if (!undefined) fail(pos, what + ": sequence delimiter in a sequence of defined length");
        if (h.length != 0) fail(pos, what + ": sequence delimiter with a non-zero length");
        return h.value;
      }
      if (h.element != 0xE000) fail(pos, what + ": unexpected " + tag_text(h.group, h.element));
      if (h.undefined()) {
        pos = walk_dataset(h.value, end, depth + 1, true, enc);
      } else {
        if (h.length % 2 != 0) fail(pos, what + ": an item has an odd length");
        need(h.value, h.length, end, (what + ": an item").c_str());
        walk_dataset(h.value, h.value + h.length, depth + 1, false, enc);
        pos = h.value + h.length;
      }
    }
  }

  // Encapsulated pixel data: the basic offset table item, fragment items, the sequence delimiter.
  size_t walk_fragments(size_t pos, size_t end, DicomEncoding enc) {
    bool table = true;
    while (true) {
      if (pos == end) fail(pos, "encapsulated pixel data ends without its delimiter (truncated file)");
      const Header h = read_header(pos, end, enc);
      if (h.group != 0xFFFE || (h.element != 0xE000 && h.element != 0xE0DD))
        fail(pos, "encapsulated pixel data: expected a fragment, found " + tag_text(h.group, h.element));
      if (h.element == 0xE0DD) {
        if (h.length != 0) fail(pos, "encapsulated pixel data: delimiter with a non-zero length");
        return h.value;
      }
      if (h.undefined()) fail(pos, "encapsulated pixel data: a fragment of undefined length");
      need(h.value, h.length, end, "an encapsulated pixel data fragment");
      if (!table) m_walk.fragments.push_back({h.value, h.length});
      table = false;
      pos = h.value + h.length;
    }
  }
};

}  // namespace

const DicomElement* DicomWalk::find(uint16_t group, uint16_t element) const {
  const uint32_t want = uint32_t{group} << 16 | element;
  auto it = std::lower_bound(elements.begin(), elements.end(), want, [](const DicomElement& e, uint32_t t) {
    return (uint32_t{e.group} << 16 | e.element) < t;
  });
  if (it == elements.end() || it->group != group || it->element != element) return nullptr;
  return &*it;
}

DicomWalk walk_dicom(const uint8_t* bytes, size_t size, const std::string& name) {
  SRMDS_CHECK(bytes != nullptr || size == 0, "DICOM '" << name << "': no bytes");
  if (size == 0) SRMDS_THROW("DICOM '" << name << "': empty file");
  return Walker(bytes, size, name).run();
}

DicomWalk walk_dicom_prefix(const uint8_t* bytes, size_t size) {
  if (bytes == nullptr || size == 0) return {};
  const std::string name = "(prefix)";
  Walker w(bytes, size, name, true);
  try {
    return w.run();
  } catch (const Error&) {
    return w.take();
  }
}

std::vector<uint8_t> read_file_bytes(const std::string& path, int64_t max_bytes) {
  // Opening a FIFO blocks until a writer comes, a device reads forever: refused before opening.
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    SRMDS_THROW("DICOM '" << path << "': not a regular file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) SRMDS_THROW("DICOM '" << path << "': cannot open the file");
  const std::streamoff size = in.tellg();
  if (size < 0) SRMDS_THROW("DICOM '" << path << "': cannot read the file size");
  if (size > max_bytes)
    SRMDS_THROW("DICOM '" << path << "': file of " << size << " bytes is larger than the " << max_bytes << " accepted");
  std::vector<uint8_t> out(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(out.data()), size))
    SRMDS_THROW("DICOM '" << path << "': read failed");
  return out;
}

}  // namespace srmds::io::detail
