// DICOM series (see io/dicom.hpp): folder scan, grouping by SeriesInstanceUID, sorting along the
// slice normal, consistency checks, HU volume and its NIfTI geometry.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "dicom_detail.hpp"
#include "srmds/core/error.hpp"
#include "srmds/core/limits.hpp"
#include "srmds/io/dicom.hpp"
#include "srmds/io/nifti_affine.hpp"

namespace srmds::io {

namespace fs = std::filesystem;

bool looks_like_dicom(const uint8_t* p, size_t n) {
  if (p == nullptr) return false;
  if (n >= 132 && std::memcmp(p + 128, "DICM", 4) == 0) return true;
  if (n < 8) return false;
  const unsigned group = static_cast<unsigned>(p[0] | p[1] << 8);
  return group == 0x0002 || group == 0x0008;
}

DicomSliceHeader parse_dicom_header(const uint8_t* bytes, size_t size, const std::string& name) {
  const detail::DicomWalk walk = detail::walk_dicom(bytes, size, name);
  return detail::read_slice_header(bytes, size, walk, name);
}

DicomImage decode_dicom(const uint8_t* bytes, size_t size, const std::string& name) {
  const detail::DicomWalk walk = detail::walk_dicom(bytes, size, name);
  DicomImage out;
  out.header = detail::read_slice_header(bytes, size, walk, name);
  out.hu = detail::decode_dicom_pixels(bytes, size, walk, out.header);
  return out;
}

namespace {

// A file of the folder that is not read as a slice.
struct Rejected {
  std::string path, reason;
  bool may_be_slice = false;              // looks like DICOM (or is empty, or could not be read)
  std::optional<std::string> series_uid;  // its SeriesInstanceUID, when it can be told

  std::string text() const { return fs::path(path).filename().string() + " (" + reason + ")"; }
};

struct Scan {
  std::string folder;
  std::string given_file;                 // set when a file was given
  std::vector<DicomSliceHeader> slices;   // DICOM image files, by file name
  std::vector<Rejected> rejected;         // by file name
  int64_t files_seen = 0;
};

// The first rejected files, "name (reason), ...".
std::string rejected_list(const std::vector<Rejected>& r) {
  std::string out;
  for (size_t i = 0; i < r.size() && i < 3; ++i) out += (i == 0 ? "" : ", ") + r[i].text();
  if (r.size() > 3) out += ", ...";
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string reason_of(const Error& e, const std::string& path) {
  // The message starts with "DICOM '<path>': "; keep the reason only.
  std::string w = e.what();
  const std::string prefix = "DICOM '" + path + "': ";
  if (w.compare(0, prefix.size(), prefix) == 0) w = w.substr(prefix.size());
  return w;
}

Scan scan(const std::string& path) {
  Scan s;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) SRMDS_THROW("DICOM '" << path << "': no such file or folder");
  if (fs::is_directory(st)) {
    s.folder = path;
  } else {
    s.given_file = path;
    const fs::path parent = fs::path(path).parent_path();
    s.folder = parent.empty() ? std::string(".") : parent.string();
    // The given file must itself be a DICOM image: its errors are reported as they are.
    const std::vector<uint8_t> bytes = detail::read_file_bytes(path, kMaxDicomFileBytes);
    (void)parse_dicom_header(bytes.data(), bytes.size(), path);
  }
  std::vector<std::string> files;
  for (fs::directory_iterator it(s.folder, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (!it->is_regular_file(fec) || fec) continue;
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || lower(name) == "dicomdir") continue;
    files.push_back(it->path().string());
    if (static_cast<int64_t>(files.size()) > kMaxDicomFolderFiles)
      SRMDS_THROW("DICOM '" << s.folder << "': more than " << kMaxDicomFolderFiles << " files in the folder");
  }
  if (ec) SRMDS_THROW("DICOM '" << s.folder << "': cannot list the folder (" << ec.message() << ")");
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    ++s.files_seen;
    std::vector<uint8_t> bytes;
    try {
      bytes = detail::read_file_bytes(f, kMaxDicomFileBytes);
    } catch (const Error& e) {
      s.rejected.push_back({f, reason_of(e, f), true, std::nullopt});
      continue;
    }
    if (bytes.empty()) {  // a slice whose copy was cut short at nothing, as likely as anything else
      s.rejected.push_back({f, "empty file", true, std::nullopt});
      continue;
    }
    if (!looks_like_dicom(bytes.data(), bytes.size())) {
      s.rejected.push_back({f, "not DICOM", false, std::nullopt});
      continue;
    }
    try {
      s.slices.push_back(parse_dicom_header(bytes.data(), bytes.size(), f));
    } catch (const Error& e) {
      s.rejected.push_back({f, reason_of(e, f), true, detail::series_uid_of(bytes.data(), bytes.size())});
    }
  }
  return s;
}

std::string series_list(const std::map<std::string, std::vector<size_t>>& groups, const Scan& s) {
  std::ostringstream os;
  bool first = true;
  for (const auto& [uid, idx] : groups) {
    os << (first ? "" : "; ") << (uid.empty() ? "(no SeriesInstanceUID)" : uid) << " \""
       << s.slices[idx.front()].series_description << "\" " << idx.size() << (idx.size() == 1 ? " slice" : " slices");
    first = false;
  }
  return os.str();
}

std::array<double, 3> cross(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double dot(const std::array<double, 3>& a, const std::array<double, 3>& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

}  // namespace

std::vector<DicomSeriesSummary> list_dicom_series(const std::string& path) {
  const Scan s = scan(path);
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < s.slices.size(); ++i) groups[s.slices[i].series_uid].push_back(i);
  std::vector<DicomSeriesSummary> out;
  for (const auto& [uid, idx] : groups)
    out.push_back({uid, s.slices[idx.front()].series_description, static_cast<int64_t>(idx.size()), s.slices[idx.front()].path});
  return out;
}

DicomSeries read_dicom_series(const std::string& path, const DicomReadOptions& options) {
  const Scan s = scan(path);
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < s.slices.size(); ++i) groups[s.slices[i].series_uid].push_back(i);
  if (groups.empty()) {
    std::ostringstream os;
    os << "DICOM '" << s.folder << "': no DICOM image files (" << s.files_seen << " files looked at";
    if (!s.rejected.empty()) os << ": " << rejected_list(s.rejected);
    os << "; subfolders are not searched)";
    throw Error(os.str());
  }

  // The series to read.
  std::string uid;
  if (!options.series_uid.empty()) {
    if (!groups.count(options.series_uid))
      SRMDS_THROW("DICOM '" << s.folder << "': no series " << options.series_uid << " (the folder holds: "
                            << series_list(groups, s) << ")");
    uid = options.series_uid;
  } else if (!s.given_file.empty()) {
    std::error_code ec;
    for (const DicomSliceHeader& h : s.slices)
      if (h.path == s.given_file || fs::equivalent(h.path, s.given_file, ec)) uid = h.series_uid;
  } else if (groups.size() == 1) {
    uid = groups.begin()->first;
  } else {
    SRMDS_THROW("DICOM '" << s.folder << "': " << groups.size() << " series in one folder; choose one by its "
                          << "SeriesInstanceUID (srmds: --series UID): " << series_list(groups, s));
  }
  std::vector<DicomSliceHeader> slices;
  for (size_t i : groups[uid]) slices.push_back(s.slices[i]);

  // Values in HU: CT only. A missing Modality (type 1, so a broken header) is taken as CT with a warning.
  size_t no_modality = 0;
  std::string first_without;
  for (const DicomSliceHeader& h : slices) {
    if (h.modality.empty() && no_modality++ == 0) first_without = h.path;
    if (!h.modality.empty() && h.modality != "CT")
      SRMDS_THROW("DICOM '" << h.path << "': Modality (0008,0060) is " << h.modality
                            << ", not CT: only CT series are read (their values are Hounsfield units)");
  }

  // Every file of the series must be readable: a file that belongs to it and is rejected (a
  // damaged slice) is an error naming it, and so is a damaged DICOM file whose series cannot be
  // told when the folder holds no other series.
  std::set<std::string> uids;
  for (const auto& g : groups) uids.insert(g.first);
  for (const Rejected& r : s.rejected)
    if (r.series_uid) uids.insert(*r.series_uid);
  for (const Rejected& r : s.rejected) {
    if (!r.may_be_slice) continue;
    if (r.series_uid && *r.series_uid == uid)
      SRMDS_THROW("DICOM series " << uid << ": slice '" << r.path << "' cannot be read: " << r.reason);
    if (!r.series_uid && uids.size() == 1)
      SRMDS_THROW("DICOM '" << r.path << "': " << r.reason << " (an unreadable file beside the " << slices.size()
                            << " slices of series " << uid << ", maybe one of them)");
  }

  DicomSeries out;
  out.series_uid = uid;
  out.series_description = slices.front().series_description;
  if (no_modality > 0)
    out.warnings.push_back("no Modality (0008,0060) in " + std::to_string(no_modality) + " of " +
                           std::to_string(slices.size()) + " slices (first: '" + first_without +
                           "'): their values are taken as CT Hounsfield units");
  if (!s.rejected.empty() && groups.size() == 1)
    out.warnings.push_back("ignored " + std::to_string(s.rejected.size()) + " file(s) in " + s.folder +
                           " that are not DICOM images of the series: " + rejected_list(s.rejected));

  // Consistency with the first slice (by file name).
  const DicomSliceHeader& ref = slices.front();
  const size_t n = slices.size();
  for (const DicomSliceHeader& h : slices) {
    if (!h.has_position || !h.has_orientation) {
      if (n > 1)
        SRMDS_THROW("DICOM '" << h.path << "': no " << (h.has_position ? "ImageOrientationPatient (0020,0037)" : "ImagePositionPatient (0020,0032)")
                              << ": the slices of series " << uid << " cannot be ordered");
    }
    if (h.rows != ref.rows || h.columns != ref.columns)
      SRMDS_THROW("DICOM series " << uid << ": slices '" << ref.path << "' (" << ref.rows << " x " << ref.columns << ") and '"
                                  << h.path << "' (" << h.rows << " x " << h.columns << ") differ in size");
    for (size_t c = 0; c < 6; ++c)
      if (std::fabs(h.orientation[c] - ref.orientation[c]) > 1e-4)
        SRMDS_THROW("DICOM series " << uid << ": slices '" << ref.path << "' and '" << h.path
                                    << "' have different orientations (ImageOrientationPatient)");
    for (size_t c = 0; c < 2; ++c)
      if (std::fabs(h.pixel_spacing[c] - ref.pixel_spacing[c]) > 1e-4 * ref.pixel_spacing[c])
        SRMDS_THROW("DICOM series " << uid << ": slices '" << ref.path << "' (" << ref.pixel_spacing[0] << " x "
                                    << ref.pixel_spacing[1] << " mm) and '" << h.path << "' (" << h.pixel_spacing[0]
                                    << " x " << h.pixel_spacing[1] << " mm) have different PixelSpacing");
  }
  if (!ref.has_pixel_spacing) out.warnings.push_back("no PixelSpacing (0028,0030) in '" + ref.path + "': 1 mm pixels assumed");
  std::array<double, 3> r{1, 0, 0}, c{0, 1, 0}, p0{0, 0, 0};
  if (ref.has_orientation) {
    r = {ref.orientation[0], ref.orientation[1], ref.orientation[2]};
    c = {ref.orientation[3], ref.orientation[4], ref.orientation[5]};
  } else {
    out.warnings.push_back("no ImagePositionPatient/ImageOrientationPatient in '" + ref.path +
                           "': an axial slice at the origin assumed");
  }
  std::array<double, 3> normal = cross(r, c);
  const double nn = std::sqrt(dot(normal, normal));
  for (double& v : normal) v /= nn;

  // Sort along the normal; ties broken by file name (then reported as duplicates).
  std::vector<double> d(n);
  for (size_t i = 0; i < n; ++i) d[i] = dot(slices[i].position, normal);
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return d[a] < d[b]; });

  double dz = ref.spacing_between_slices > 0 ? ref.spacing_between_slices : ref.slice_thickness > 0 ? ref.slice_thickness : 1.0;
  if (n > 1) {
    std::vector<double> gaps(n - 1);
    for (size_t k = 0; k + 1 < n; ++k) {
      const DicomSliceHeader& a = slices[order[k]];
      const DicomSliceHeader& b = slices[order[k + 1]];
      gaps[k] = d[order[k + 1]] - d[order[k]];
      if (gaps[k] < 1e-4)
        SRMDS_THROW("DICOM series " << uid << ": slices '" << a.path << "' and '" << b.path
                                    << "' lie at the same position (" << d[order[k]]
                                    << " mm along the slice normal): a duplicate slice or a second acquisition");
      std::array<double, 3> step{b.position[0] - a.position[0], b.position[1] - a.position[1], b.position[2] - a.position[2]};
      const double along = dot(step, normal);
      std::array<double, 3> side{step[0] - along * normal[0], step[1] - along * normal[1], step[2] - along * normal[2]};
      const double sideways = std::sqrt(dot(side, side));
      if (sideways > 2e-3 * std::fabs(along) && sideways > 1e-4)
        SRMDS_THROW("DICOM series " << uid << ": gantry tilt or sheared series: slice '" << b.path << "' is shifted "
                                    << sideways << " mm within the slice plane from '" << a.path << "' ("
                                    << std::atan2(sideways, std::fabs(along)) * 57.29577951308232
                                    << " degrees); tilted series are not supported");
    }
    std::vector<double> sorted = gaps;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2];
    double worst = 0;
    for (size_t k = 0; k < gaps.size(); ++k) {
      const std::string& a = slices[order[k]].path;
      const std::string& b = slices[order[k + 1]].path;
      if (gaps[k] >= 1.5 * median)
        SRMDS_THROW("DICOM series " << uid << ": missing slice(s) between '" << a << "' and '" << b << "': they are "
                                    << gaps[k] << " mm apart, the other slices " << median << " mm (about "
                                    << std::llround(gaps[k] / median) - 1 << " missing"
                                    << (s.rejected.empty() ? "" : "; files not read: " + rejected_list(s.rejected))
                                    << ")");
      const double dev = std::fabs(gaps[k] - median) / median;
      if (dev > 0.01)
        SRMDS_THROW("DICOM series " << uid << ": uneven slice spacing: '" << a << "' and '" << b << "' are " << gaps[k]
                                    << " mm apart, the median step is " << median << " mm (more than 1 % off)");
      worst = std::max(worst, dev);
    }
    dz = (d[order[n - 1]] - d[order[0]]) / static_cast<double>(n - 1);
    if (worst > 1e-3) {
      std::ostringstream os;
      os << "uneven slice spacing in series " << uid << ": steps " << sorted.front() << " to " << sorted.back()
         << " mm (up to " << 100.0 * worst << " % from the median); using the mean step " << dz << " mm";
      out.warnings.push_back(os.str());
    }
  }
  p0 = slices[order[0]].position;

  // Voxels.
  const int64_t ni = ref.columns, nj = ref.rows, nk = static_cast<int64_t>(n);
  check_budget(checked_product({static_cast<uint64_t>(ni), static_cast<uint64_t>(nj), static_cast<uint64_t>(nk),
                                sizeof(float) + static_cast<uint64_t>(ref.bits_allocated / 8)}),
               "DICOM series " + uid + ": decoding its " + std::to_string(ni) + " x " + std::to_string(nj) + " x " +
                   std::to_string(nk) + " voxels");
  if (ni * nj * nk > kMaxNiftiVoxels)
    SRMDS_THROW("DICOM series " << uid << ": " << ni << " x " << nj << " x " << nk << " voxels are too many");
  NiftiVolume& v = out.volume;
  v.path = path;
  v.datatype = 16;  // DT_FLOAT32
  v.scl_slope = 1;
  v.scl_inter = 0;
  v.data.resize(static_cast<size_t>(ni * nj * nk));
  const int64_t plane = ni * nj;
  for (size_t k = 0; k < n; ++k) {
    const DicomSliceHeader& h = slices[order[k]];
    const std::vector<uint8_t> bytes = detail::read_file_bytes(h.path, kMaxDicomFileBytes);
    const DicomImage img = decode_dicom(bytes.data(), bytes.size(), h.path);
    if (img.header.rows != ref.rows || img.header.columns != ref.columns)
      SRMDS_THROW("DICOM '" << h.path << "': changed while being read (" << img.header.rows << " x " << img.header.columns << ")");
    std::copy(img.hu.begin(), img.hu.end(), v.data.begin() + static_cast<std::ptrdiff_t>(static_cast<int64_t>(k) * plane));
    out.slice_files.push_back(h.path);
  }

  // Geometry: LPS columns of the affine, then x and y negated (RAS).
  const double dc = ref.pixel_spacing[1], dr = ref.pixel_spacing[0];
  Mat44 a{};
  for (size_t row = 0; row < 3; ++row) {
    const double sign = row < 2 ? -1.0 : 1.0;
    a[row][0] = sign * r[row] * dc;
    a[row][1] = sign * c[row] * dr;
    a[row][2] = sign * normal[row] * dz;
    a[row][3] = sign * p0[row];
  }
  a[3] = {0, 0, 0, 1};
  v.geometry = nifti_geometry_from_affine(ni, nj, nk, a);
  return out;
}

}  // namespace srmds::io
