// The attributes of a walked DICOM file (see io/dicom.hpp): typed, length-checked reads of the
// top-level elements the series reader needs, and the checks of what an image must have.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "dicom_detail.hpp"
#include "srmds/core/error.hpp"

namespace srmds::io::detail {

namespace {

std::string tag_text(uint16_t g, uint16_t e) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "(%04X,%04X)", g, e);
  return buf;
}

// Printable form of attribute text for messages.
std::string printable(const std::string& s) {
  std::string out = s;
  for (char& ch : out)
    if (static_cast<unsigned char>(ch) < 32 || static_cast<unsigned char>(ch) > 126) ch = '?';
  return out;
}

class Attributes {
public:
  Attributes(const uint8_t* p, size_t n, const DicomWalk& w, const std::string& name) : m_p(p), m_n(n), m_w(w), m_name(name) {}

  const DicomElement* find(uint16_t g, uint16_t e, const char* vr) const {
    const DicomElement* el = m_w.find(g, e);
    if (!el) return nullptr;
    if (el->vr[0] != 0 && std::strcmp(el->vr, vr) != 0 && std::strcmp(el->vr, "UN") != 0)
      SRMDS_THROW("DICOM '" << m_name << "': " << tag_text(g, e) << " has VR " << el->vr << ", expected " << vr);
    if (el->undefined_length)
      SRMDS_THROW("DICOM '" << m_name << "': " << tag_text(g, e) << " has an undefined length");
    if (el->value_offset > m_n || el->length > m_n - el->value_offset)
      SRMDS_THROW("DICOM '" << m_name << "': internal error: " << tag_text(g, e) << " outside the file");
    return el;
  }

  // Text value with leading/trailing spaces and NULs removed; nullopt when absent.
  std::optional<std::string> text(uint16_t g, uint16_t e, const char* vr) const {
    const DicomElement* el = find(g, e, vr);
    if (!el) return std::nullopt;
    std::string s(reinterpret_cast<const char*>(m_p + el->value_offset), el->length);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
    size_t b = 0;
    while (b < s.size() && s[b] == ' ') ++b;
    return s.substr(b);
  }

  // Backslash-separated decimal strings (DS or IS); an empty value counts as absent.
  std::optional<std::vector<double>> numbers(uint16_t g, uint16_t e, const char* vr) const {
    const std::optional<std::string> t = text(g, e, vr);
    if (!t || t->empty()) return std::nullopt;
    std::vector<double> out;
    size_t start = 0;
    while (true) {
      const size_t bs = t->find('\\', start);
      std::string item = t->substr(start, bs == std::string::npos ? std::string::npos : bs - start);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\0')) item.pop_back();
      size_t b = 0;
      while (b < item.size() && item[b] == ' ') ++b;
      item = item.substr(b);
      char* end = nullptr;
      errno = 0;
      const double v = item.empty() ? 0.0 : std::strtod(item.c_str(), &end);
      if (item.empty() || end != item.c_str() + item.size() || !std::isfinite(v) || errno == ERANGE)
        SRMDS_THROW("DICOM '" << m_name << "': " << tag_text(g, e) << " value '" << printable(*t)
                              << "' is not a list of finite numbers");
      out.push_back(v);
      if (bs == std::string::npos) break;
      start = bs + 1;
      if (out.size() > 64) SRMDS_THROW("DICOM '" << m_name << "': " << tag_text(g, e) << " has too many values");
    }
    return out;
  }

  std::optional<std::vector<double>> numbers(uint16_t g, uint16_t e, const char* vr, size_t count) const {
    auto v = numbers(g, e, vr);
    if (v && v->size() != count)
      SRMDS_THROW("DICOM '" << m_name << "': " << tag_text(g, e) << " has " << v->size() << " values, expected " << count);
    return v;
  }

  std::optional<double> number(uint16_t g, uint16_t e, const char* vr) const {
    auto v = numbers(g, e, vr, 1);
    if (!v) return std::nullopt;
    return (*v)[0];
  }

  std::optional<int> us(uint16_t g, uint16_t e) const {
    const DicomElement* el = find(g, e, "US");
    if (!el || el->length == 0) return std::nullopt;
    if (el->length != 2)
      SRMDS_THROW("DICOM '" << m_name << "': " << tag_text(g, e) << " (US) has " << el->length << " bytes, expected 2");
    const uint8_t* q = m_p + el->value_offset;
    const bool big = m_w.encoding == DicomEncoding::ExplicitBig;
    return big ? (q[0] << 8 | q[1]) : (q[0] | q[1] << 8);
  }

private:
  const uint8_t* m_p;
  size_t m_n;
  const DicomWalk& m_w;
  const std::string& m_name;
};

int required_us(const Attributes& a, uint16_t g, uint16_t e, const char* what, const std::string& name) {
  const std::optional<int> v = a.us(g, e);
  if (!v) SRMDS_THROW("DICOM '" << name << "': no " << what << " " << tag_text(g, e));
  return *v;
}

}  // namespace

std::optional<std::string> series_uid_of(const uint8_t* bytes, size_t size) {
  const std::string name = "(series)";
  bool complete = true;
  DicomWalk walk;
  try {
    walk = walk_dicom(bytes, size, name);
  } catch (const Error&) {
    complete = false;
    walk = walk_dicom_prefix(bytes, size);
  }
  try {
    if (auto uid = Attributes(bytes, size, walk, name).text(0x0020, 0x000E, "UI")) return printable(*uid);
  } catch (const Error&) {
    return std::nullopt;
  }
  return complete ? std::optional<std::string>("") : std::nullopt;
}

DicomSliceHeader read_slice_header(const uint8_t* bytes, size_t size, const DicomWalk& walk, const std::string& name) {
  const Attributes a(bytes, size, walk, name);
  DicomSliceHeader h;
  h.path = name;
  h.transfer_syntax = walk.transfer_syntax;
  h.modality = printable(a.text(0x0008, 0x0060, "CS").value_or(""));
  h.sop_instance_uid = printable(a.text(0x0008, 0x0018, "UI").value_or(""));
  h.series_uid = printable(a.text(0x0020, 0x000E, "UI").value_or(""));
  h.series_description = printable(a.text(0x0008, 0x103E, "LO").value_or(""));
  if (auto v = a.number(0x0020, 0x0013, "IS")) {
    h.instance_number = static_cast<int64_t>(std::llround(std::clamp(*v, -1e15, 1e15)));
    h.has_instance_number = true;
  }

  if (!walk.find(0x7FE0, 0x0010)) SRMDS_THROW("DICOM '" << name << "': not an image (no PixelData (7FE0,0010))");
  h.samples_per_pixel = a.us(0x0028, 0x0002).value_or(1);
  h.photometric = printable(a.text(0x0028, 0x0004, "CS").value_or("MONOCHROME2"));
  if (h.samples_per_pixel != 1 || (h.photometric != "MONOCHROME1" && h.photometric != "MONOCHROME2"))
    SRMDS_THROW("DICOM '" << name << "': colour image (SamplesPerPixel " << h.samples_per_pixel
                          << ", PhotometricInterpretation " << h.photometric << "): only grey images can be read");
  if (auto frames = a.number(0x0028, 0x0008, "IS")) {
    if (!(*frames >= 1 && *frames <= 1e9)) SRMDS_THROW("DICOM '" << name << "': NumberOfFrames " << *frames << " is invalid");
    h.number_of_frames = static_cast<int64_t>(*frames);
    if (h.number_of_frames > 1)
      SRMDS_THROW("DICOM '" << name << "': multi-frame image (" << h.number_of_frames
                            << " frames): only series of single-frame slices are supported");
  }
  h.rows = required_us(a, 0x0028, 0x0010, "Rows", name);
  h.columns = required_us(a, 0x0028, 0x0011, "Columns", name);
  if (h.rows < 1 || h.columns < 1) SRMDS_THROW("DICOM '" << name << "': empty image (" << h.rows << " x " << h.columns << ")");
  h.bits_allocated = required_us(a, 0x0028, 0x0100, "BitsAllocated", name);
  h.bits_stored = a.us(0x0028, 0x0101).value_or(h.bits_allocated);
  h.high_bit = a.us(0x0028, 0x0102).value_or(h.bits_stored - 1);
  h.pixel_representation = required_us(a, 0x0028, 0x0103, "PixelRepresentation", name);
  if (h.bits_allocated != 8 && h.bits_allocated != 16 && h.bits_allocated != 32)
    SRMDS_THROW("DICOM '" << name << "': BitsAllocated " << h.bits_allocated << " is not supported (8, 16 or 32)");
  if (h.bits_stored < 1 || h.bits_stored > h.bits_allocated)
    SRMDS_THROW("DICOM '" << name << "': BitsStored " << h.bits_stored << " with BitsAllocated " << h.bits_allocated);
  if (h.high_bit != h.bits_stored - 1)
    SRMDS_THROW("DICOM '" << name << "': HighBit " << h.high_bit << " with BitsStored " << h.bits_stored
                          << " is not supported (HighBit must be BitsStored - 1)");
  if (h.pixel_representation != 0 && h.pixel_representation != 1)
    SRMDS_THROW("DICOM '" << name << "': PixelRepresentation " << h.pixel_representation << " (0 or 1)");

  const DicomElement* pixels = walk.find(0x7FE0, 0x0010);
  if (walk.encapsulated) {
    if (walk.fragments.empty()) SRMDS_THROW("DICOM '" << name << "': compressed pixel data without fragments");
  } else {
    const uint64_t need = static_cast<uint64_t>(h.rows) * static_cast<uint64_t>(h.columns) *
                          static_cast<uint64_t>(h.bits_allocated / 8);
    const uint64_t have = pixels->length;
    if (have != need && have != need + 1)
      SRMDS_THROW("DICOM '" << name << "': PixelData holds " << have << " bytes, " << h.rows << " x " << h.columns << " x "
                            << h.bits_allocated << " bits needs " << need);
  }

  if (auto v = a.numbers(0x0020, 0x0032, "DS", 3)) {
    h.has_position = true;
    for (size_t i = 0; i < 3; ++i) h.position[i] = (*v)[i];
  }
  if (auto v = a.numbers(0x0020, 0x0037, "DS", 6)) {
    h.has_orientation = true;
    std::array<double, 6> o{};
    for (size_t i = 0; i < 6; ++i) o[i] = (*v)[i];
    const double nr = std::sqrt(o[0] * o[0] + o[1] * o[1] + o[2] * o[2]);
    const double nc = std::sqrt(o[3] * o[3] + o[4] * o[4] + o[5] * o[5]);
    const double dot = o[0] * o[3] + o[1] * o[4] + o[2] * o[5];
    if (!(std::fabs(nr - 1) < 1e-2 && std::fabs(nc - 1) < 1e-2 && std::fabs(dot) < 1e-2))
      SRMDS_THROW("DICOM '" << name << "': ImageOrientationPatient (0020,0037) is not two orthogonal unit vectors ("
                            << o[0] << ", " << o[1] << ", " << o[2] << ", " << o[3] << ", " << o[4] << ", " << o[5] << ")");
    for (size_t i = 0; i < 3; ++i) {
      h.orientation[i] = o[i] / nr;
      h.orientation[i + 3] = o[i + 3] / nc;
    }
  }
  if (auto v = a.numbers(0x0028, 0x0030, "DS", 2)) {
    if (!((*v)[0] > 0 && (*v)[1] > 0 && (*v)[0] < 1e6 && (*v)[1] < 1e6))
      SRMDS_THROW("DICOM '" << name << "': PixelSpacing (0028,0030) " << (*v)[0] << "\\" << (*v)[1] << " must be positive");
    h.has_pixel_spacing = true;
    h.pixel_spacing = {(*v)[0], (*v)[1]};
  }
  if (auto v = a.number(0x0018, 0x0050, "DS")) h.slice_thickness = *v > 0 && *v < 1e6 ? *v : 0.0;
  if (auto v = a.number(0x0018, 0x0088, "DS")) h.spacing_between_slices = *v > 0 && *v < 1e6 ? *v : 0.0;
  h.slope = a.number(0x0028, 0x1053, "DS").value_or(1.0);
  h.intercept = a.number(0x0028, 0x1052, "DS").value_or(0.0);
  if (h.slope == 0.0) SRMDS_THROW("DICOM '" << name << "': RescaleSlope (0028,1053) is 0");
  if (!(std::fabs(h.slope) < 1e9 && std::fabs(h.intercept) < 1e9))
    SRMDS_THROW("DICOM '" << name << "': RescaleSlope " << h.slope << " / RescaleIntercept " << h.intercept << " out of range");
  return h;
}

}  // namespace srmds::io::detail
