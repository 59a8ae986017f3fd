// A minimal DICOM writer for tests (independent of GDCM): Part 10 files (preamble, "DICM", file
// meta group in explicit VR little endian) with a data set in explicit or implicit VR little
// endian, elements sorted by tag, values padded to even length (UI with NUL, text with space).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace srmds::test {

class DicomBuilder {
public:
  DicomBuilder& text(uint16_t g, uint16_t e, const std::string& vr, std::string value) {
    if (value.size() % 2) value.push_back(vr == "UI" ? '\0' : ' ');
    m_elements[key(g, e)] = {vr, std::vector<uint8_t>(value.begin(), value.end())};
    return *this;
  }
  DicomBuilder& us(uint16_t g, uint16_t e, uint16_t v) {
    m_elements[key(g, e)] = {"US", {static_cast<uint8_t>(v & 0xFF), static_cast<uint8_t>(v >> 8)}};
    return *this;
  }
  DicomBuilder& bytes(uint16_t g, uint16_t e, const std::string& vr, std::vector<uint8_t> v) {
    if (v.size() % 2) v.push_back(0);
    m_elements[key(g, e)] = {vr, std::move(v)};
    return *this;
  }
  DicomBuilder& erase(uint16_t g, uint16_t e) {
    m_elements.erase(key(g, e));
    return *this;
  }

  std::vector<uint8_t> build(bool explicit_vr = true, bool preamble = true) const {
    const std::string ts = explicit_vr ? "1.2.840.10008.1.2.1" : "1.2.840.10008.1.2";
    std::vector<uint8_t> meta;
    put_element(meta, 0x0002, 0x0001, "OB", {0, 1}, true);
    put_element(meta, 0x0002, 0x0002, "UI", padded_uid("1.2.840.10008.5.1.4.1.1.2"), true);
    put_element(meta, 0x0002, 0x0003, "UI", padded_uid(sop_uid()), true);
    put_element(meta, 0x0002, 0x0010, "UI", padded_uid(ts), true);
    put_element(meta, 0x0002, 0x0012, "UI", padded_uid("1.2.3.4.5.6"), true);
    std::vector<uint8_t> out;
    if (preamble) {
      out.assign(128, 0);
      out.insert(out.end(), {'D', 'I', 'C', 'M'});
    }
    const uint32_t len = static_cast<uint32_t>(meta.size());
    put_element(out, 0x0002, 0x0000, "UL",
                {static_cast<uint8_t>(len), static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len >> 16),
                 static_cast<uint8_t>(len >> 24)},
                true);
    out.insert(out.end(), meta.begin(), meta.end());
    for (const auto& [k, v] : m_elements)
      put_element(out, static_cast<uint16_t>(k >> 16), static_cast<uint16_t>(k & 0xFFFF), v.first, v.second, explicit_vr);
    return out;
  }

private:
  std::map<uint32_t, std::pair<std::string, std::vector<uint8_t>>> m_elements;

  static uint32_t key(uint16_t g, uint16_t e) { return uint32_t{g} << 16 | e; }
  std::string sop_uid() const {
    auto it = m_elements.find(key(0x0008, 0x0018));
    if (it == m_elements.end()) return "1.2.3";
    std::string s(it->second.second.begin(), it->second.second.end());
    while (!s.empty() && s.back() == '\0') s.pop_back();
    return s;
  }
  static std::vector<uint8_t> padded_uid(std::string s) {
    if (s.size() % 2) s.push_back('\0');
    return std::vector<uint8_t>(s.begin(), s.end());
  }
  static void put16(std::vector<uint8_t>& o, uint32_t v) {
    o.push_back(static_cast<uint8_t>(v));
    o.push_back(static_cast<uint8_t>(v >> 8));
  }
  static void put32(std::vector<uint8_t>& o, uint32_t v) {
    put16(o, v & 0xFFFF);
    put16(o, v >> 16);
  }
  static void put_element(std::vector<uint8_t>& o, uint16_t g, uint16_t e, const std::string& vr,
                          const std::vector<uint8_t>& value, bool explicit_vr) {
    put16(o, g);
    put16(o, e);
    const uint32_t n = static_cast<uint32_t>(value.size());
    if (explicit_vr) {
      o.push_back(static_cast<uint8_t>(vr[0]));
      o.push_back(static_cast<uint8_t>(vr[1]));
      const bool long_form = vr == "OB" || vr == "OW" || vr == "SQ" || vr == "UN" || vr == "UT" || vr == "OF";
      if (long_form) {
        put16(o, 0);
        put32(o, n);
      } else {
        put16(o, n);
      }
    } else {
      put32(o, n);
    }
    o.insert(o.end(), value.begin(), value.end());
  }
};

inline std::string ds_list(const double* v, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v[i]);
    s += (i ? "\\" : "") + std::string(buf);
  }
  return s;
}

// One CT slice: rows x columns stored values (row-major), with the given geometry and rescale.
struct CtSlice {
  int rows = 6, columns = 5;
  std::array<double, 3> position{0, 0, 0};
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};
  std::array<double, 2> spacing{0.75, 0.5};  // row spacing, column spacing
  std::string series_uid = "1.2.826.0.1.3680043.2.1125.1", description = "test series";
  std::string sop_uid = "1.2.826.0.1.3680043.2.1125.2.1";
  int instance = 1;
  double slope = 1, intercept = -1024;
  int bits_allocated = 16, bits_stored = 16, pixel_representation = 1;
  std::vector<int64_t> values;  // rows * columns stored values (high bits beyond bits_stored kept as given)
  bool explicit_vr = true;
};

inline DicomBuilder ct_builder(const CtSlice& s) {
  DicomBuilder b;
  b.text(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.2");
  b.text(0x0008, 0x0018, "UI", s.sop_uid);
  b.text(0x0008, 0x0060, "CS", "CT");
  b.text(0x0008, 0x103E, "LO", s.description);
  b.text(0x0018, 0x0050, "DS", "2");
  b.text(0x0020, 0x000E, "UI", s.series_uid);
  b.text(0x0020, 0x0013, "IS", std::to_string(s.instance));
  b.text(0x0020, 0x0032, "DS", ds_list(s.position.data(), 3));
  b.text(0x0020, 0x0037, "DS", ds_list(s.orientation.data(), 6));
  b.us(0x0028, 0x0002, 1);
  b.text(0x0028, 0x0004, "CS", "MONOCHROME2");
  b.us(0x0028, 0x0010, static_cast<uint16_t>(s.rows));
  b.us(0x0028, 0x0011, static_cast<uint16_t>(s.columns));
  b.text(0x0028, 0x0030, "DS", ds_list(s.spacing.data(), 2));
  b.us(0x0028, 0x0100, static_cast<uint16_t>(s.bits_allocated));
  b.us(0x0028, 0x0101, static_cast<uint16_t>(s.bits_stored));
  b.us(0x0028, 0x0102, static_cast<uint16_t>(s.bits_stored - 1));
  b.us(0x0028, 0x0103, static_cast<uint16_t>(s.pixel_representation));
  b.text(0x0028, 0x1052, "DS", ds_list(&s.intercept, 1));
  b.text(0x0028, 0x1053, "DS", ds_list(&s.slope, 1));
  std::vector<uint8_t> px;
  const int bytes = s.bits_allocated / 8;
  for (size_t i = 0; i < static_cast<size_t>(s.rows) * static_cast<size_t>(s.columns); ++i) {
    const uint64_t v = i < s.values.size() ? static_cast<uint64_t>(s.values[i]) : 0;
    for (int k = 0; k < bytes; ++k) px.push_back(static_cast<uint8_t>(v >> (8 * k)));
  }
  b.bytes(0x7FE0, 0x0010, s.bits_allocated == 8 ? "OB" : "OW", px);
  return b;
}

inline std::vector<uint8_t> ct_file(const CtSlice& s) { return ct_builder(s).build(s.explicit_vr); }

}  // namespace srmds::test
