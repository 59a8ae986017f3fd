// NIfTI header pre-validation (see io/nifti.hpp): the first 348 / 540 bytes are read through zlib
// (which also reads uncompressed files) and checked field by field before nifti_clib sees the file,
// so that malformed input gives a precise srmds::Error instead of a NULL from nifti_clib or a crash.
//
// NIfTI-1 fields used (byte offsets): sizeof_hdr 0 (=348), dim[8] int16 40, datatype int16 70,
// pixdim float 76, vox_offset float 108, scl_slope/scl_inter float 112/116, magic "n+1\0" 344.
// NIfTI-2: sizeof_hdr 0 (=540), magic "n+2\0\r\n\032\n" 4, datatype int16 12, dim[8] int64 16,
// vox_offset int64 168, scl_slope/scl_inter double 176/184.
#include <sys/stat.h>
#include <zlib.h>

#include <cmath>
#include <cerrno>
#include <cstring>
#include <vector>

#include "srmds/core/error.hpp"
#include "srmds/io/nifti.hpp"
#include "nifti_detail.hpp"

namespace srmds::io {

namespace {

constexpr int kN1HeaderBytes = 348;
constexpr int kN2HeaderBytes = 540;

// Little/big-endian field decoding from a raw header.
struct RawHeader {
  const unsigned char* bytes;
  bool big_endian;

  uint64_t uint(size_t off, int n) const {
    uint64_t v = 0;
    for (int b = 0; b < n; ++b) {
      const uint64_t byte = bytes[off + static_cast<size_t>(big_endian ? b : n - 1 - b)];
      v = (v << 8) | byte;
    }
    return v;
  }
  int32_t i16(size_t off) const { return static_cast<int16_t>(static_cast<uint16_t>(uint(off, 2))); }
  int32_t i32(size_t off) const { return static_cast<int32_t>(static_cast<uint32_t>(uint(off, 4))); }
  int64_t i64(size_t off) const { return static_cast<int64_t>(uint(off, 8)); }
  double f32(size_t off) const {
    const uint32_t u = static_cast<uint32_t>(uint(off, 4));
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  double f64(size_t off) const {
    const uint64_t u = uint(off, 8);
    double d;
    std::memcpy(&d, &u, 8);
    return d;
  }
};

int32_t le_i32(const unsigned char* p) { return RawHeader{p, false}.i32(0); }
int32_t be_i32(const unsigned char* p) { return RawHeader{p, true}.i32(0); }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string dims_text(const std::array<int64_t, 8>& dim, int ndim) {
  std::string s = "[";
  for (int i = 1; i <= ndim && i < 8; ++i) s += (i > 1 ? ", " : "") + std::to_string(dim[static_cast<size_t>(i)]);
  return s + "]";
}

}  // namespace

std::string nifti_datatype_name(int datatype) {
  switch (datatype) {
    case 1: return "binary";
    case 2: return "uint8";
    case 4: return "int16";
    case 8: return "int32";
    case 16: return "float32";
    case 32: return "complex64";
    case 64: return "float64";
    case 128: return "rgb24";
    case 256: return "int8";
    case 512: return "uint16";
    case 768: return "uint32";
    case 1024: return "int64";
    case 1280: return "uint64";
    case 1536: return "float128";
    case 1792: return "complex128";
    case 2048: return "complex256";
    case 2304: return "rgba32";
    default: return "DT_" + std::to_string(datatype);
  }
}

namespace detail {

int supported_bytes_per_voxel(int datatype) {
  switch (datatype) {
    case 2:     // uint8
    case 256:   // int8
      return 1;
    case 4:     // int16
    case 512:   // uint16
      return 2;
    case 8:     // int32
    case 768:   // uint32
    case 16:    // float32
      return 4;
    case 64:    // float64
      return 8;
    default:
      return 0;
  }
}

NiftiExtension nifti_extension(const std::string& path) {
  if (ends_with(path, ".nii.gz")) return NiftiExtension::NiiGz;
  if (ends_with(path, ".nii")) return NiftiExtension::Nii;
  return NiftiExtension::Other;
}

int64_t decompressed_size(const std::string& path, std::string* error) {
  error->clear();
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    *error = std::strerror(errno);
    return -1;
  }
  std::vector<char> buf(1 << 16);
  int64_t total = 0;
  for (;;) {
    const int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n <= 0) break;
    total += n;
  }
  // A stream cut short ends with Z_BUF_ERROR ("unexpected end of file"); corrupt data with Z_DATA_ERROR.
  int code = 0;
  const char* msg = gzerror(f, &code);
  if (code != Z_OK && code != Z_STREAM_END) *error = msg && *msg ? msg : "gzip read error";
  gzclose(f);
  return total;
}

}  // namespace detail

NiftiHeaderInfo read_nifti_header(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) SRMDS_THROW("NIfTI '" << path << "': file not found (" << std::strerror(errno) << ")");
  if (!S_ISREG(st.st_mode)) SRMDS_THROW("NIfTI '" << path << "': not a regular file");
  const detail::NiftiExtension ext = detail::nifti_extension(path);
  if (ext == detail::NiftiExtension::Other)
    SRMDS_THROW("NIfTI '" << path << "': unsupported file name (expected a single-file .nii or .nii.gz)");

  unsigned char raw[kN2HeaderBytes];
  std::memset(raw, 0, sizeof raw);
  int got = 0;
  {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) SRMDS_THROW("NIfTI '" << path << "': cannot open (" << std::strerror(errno) << ")");
    while (got < kN2HeaderBytes) {
      const int n = gzread(f, raw + got, static_cast<unsigned>(kN2HeaderBytes - got));
      if (n <= 0) break;
      got += n;
    }
    int code = 0;
    const char* msg = gzerror(f, &code);
    const std::string zmsg = msg ? msg : "";
    gzclose(f);
    // Z_BUF_ERROR is zlib's "unexpected end of file": a truncated stream, reported below by size.
    if (code != Z_OK && code != Z_STREAM_END && code != Z_BUF_ERROR)
      SRMDS_THROW("NIfTI '" << path << "': corrupt gzip stream (" << zmsg << ")");
  }
  if (got < 4) SRMDS_THROW("NIfTI '" << path << "': truncated header (" << got << " bytes; a NIfTI header has 348 or 540)");

  NiftiHeaderInfo h;
  bool big = false;
  if (le_i32(raw) == kN1HeaderBytes || be_i32(raw) == kN1HeaderBytes) {
    h.version = 1;
    big = le_i32(raw) != kN1HeaderBytes;
  } else if (le_i32(raw) == kN2HeaderBytes || be_i32(raw) == kN2HeaderBytes) {
    h.version = 2;
    big = le_i32(raw) != kN2HeaderBytes;
  } else {
    SRMDS_THROW("NIfTI '" << path << "': wrong magic: sizeof_hdr is " << le_i32(raw)
                          << ", expected 348 (NIfTI-1) or 540 (NIfTI-2); not a NIfTI file");
  }
  h.byte_swapped = big;
  const int need = h.version == 1 ? kN1HeaderBytes : kN2HeaderBytes;
  if (got < need)
    SRMDS_THROW("NIfTI '" << path << "': truncated header (" << got << " of " << need << " bytes of a NIfTI-" << h.version
                          << " header)");
  const RawHeader r{raw, big};

  if (h.version == 1) {
    if (std::memcmp(raw + 344, "ni1\0", 4) == 0)
      SRMDS_THROW("NIfTI '" << path << "': two-file NIfTI-1 (.hdr/.img, magic \"ni1\") is not supported");
    if (std::memcmp(raw + 344, "n+1\0", 4) != 0)
      SRMDS_THROW("NIfTI '" << path << "': wrong magic at byte 344 (expected \"n+1\"); not a single-file NIfTI-1");
    for (int i = 0; i < 8; ++i) h.dim[static_cast<size_t>(i)] = r.i16(40 + 2 * static_cast<size_t>(i));
    h.datatype = r.i16(70);
    const double off = r.f32(108);
    if (!std::isfinite(off) || off < 352.0 || off > 1e12)
      SRMDS_THROW("NIfTI '" << path << "': invalid vox_offset " << off << " (must be >= 352)");
    h.vox_offset = static_cast<int64_t>(off);
    h.scl_slope = r.f32(112);
    h.scl_inter = r.f32(116);
  } else {
    static const unsigned char kMagic2[8] = {'n', '+', '2', 0, '\r', '\n', 0x1A, '\n'};
    if (std::memcmp(raw + 4, "ni2\0", 4) == 0)
      SRMDS_THROW("NIfTI '" << path << "': two-file NIfTI-2 (magic \"ni2\") is not supported");
    if (std::memcmp(raw + 4, kMagic2, 8) != 0)
      SRMDS_THROW("NIfTI '" << path << "': wrong magic at byte 4 (expected \"n+2\\0\\r\\n\\032\\n\"); not a NIfTI-2 file");
    h.datatype = r.i16(12);
    for (int i = 0; i < 8; ++i) h.dim[static_cast<size_t>(i)] = r.i64(16 + 8 * static_cast<size_t>(i));
    h.vox_offset = r.i64(168);
    if (h.vox_offset < 544 || h.vox_offset > (int64_t{1} << 40))
      SRMDS_THROW("NIfTI '" << path << "': invalid vox_offset " << h.vox_offset << " (must be >= 544)");
    h.scl_slope = r.f64(176);
    h.scl_inter = r.f64(184);
  }

  // Dimensions.
  const int64_t d0 = h.dim[0];
  if (d0 < 1 || d0 > 7) SRMDS_THROW("NIfTI '" << path << "': invalid dim[0] = " << d0 << " (must be 1..7)");
  h.ndim = static_cast<int>(d0);
  for (int i = 1; i <= h.ndim; ++i)
    if (h.dim[static_cast<size_t>(i)] < 1)
      SRMDS_THROW("NIfTI '" << path << "': invalid dimensions " << dims_text(h.dim, h.ndim) << " (dim[" << i
                            << "] = " << h.dim[static_cast<size_t>(i)] << " < 1)");
  for (int i = 4; i <= h.ndim; ++i)
    if (h.dim[static_cast<size_t>(i)] > 1)
      SRMDS_THROW("NIfTI '" << path << "': " << h.ndim << "-D volume with dimensions " << dims_text(h.dim, h.ndim)
                            << " is not supported (only 2-D or 3-D images; dim[" << i << "] = "
                            << h.dim[static_cast<size_t>(i)] << ")");
  h.ni = h.dim[1];
  h.nj = h.ndim >= 2 ? h.dim[2] : 1;
  h.nk = h.ndim >= 3 ? h.dim[3] : 1;
  int64_t voxels = 1;
  for (int64_t n : {h.ni, h.nj, h.nk}) {
    if (n > kMaxNiftiVoxels || voxels > kMaxNiftiVoxels / n)
      SRMDS_THROW("NIfTI '" << path << "': dimensions " << dims_text(h.dim, h.ndim) << " overflow (more than "
                            << kMaxNiftiVoxels << " voxels)");
    voxels *= n;
  }

  // Datatype.
  h.bytes_per_voxel = detail::supported_bytes_per_voxel(h.datatype);
  if (h.bytes_per_voxel == 0)
    SRMDS_THROW("NIfTI '" << path << "': unsupported datatype " << nifti_datatype_name(h.datatype) << " (code "
                          << h.datatype << "); supported: uint8, int8, int16, uint16, int32, uint32, float32, float64");

  // Data extent (uncompressed files; .gz streams are checked when the data is read).
  if (ext == detail::NiftiExtension::Nii) {
    const int64_t need_bytes = h.vox_offset + h.data_bytes();
    if (static_cast<int64_t>(st.st_size) < need_bytes)
      SRMDS_THROW("NIfTI '" << path << "': truncated file (" << st.st_size << " bytes; the header promises "
                            << h.data_bytes() << " bytes of " << nifti_datatype_name(h.datatype) << " voxels at offset "
                            << h.vox_offset << ", " << need_bytes << " in all)");
  }
  return h;
}

NiftiGeometry make_nifti_geometry(int64_t ni, int64_t nj, int64_t nk, double dx, double dy, double dz) {
  SRMDS_CHECK(ni >= 1 && nj >= 1 && nk >= 1, "make_nifti_geometry: invalid size " << ni << " x " << nj << " x " << nk);
  SRMDS_CHECK(dx > 0 && dy > 0 && dz > 0 && std::isfinite(dx) && std::isfinite(dy) && std::isfinite(dz),
              "make_nifti_geometry: voxel size " << dx << " x " << dy << " x " << dz << " must be positive");
  NiftiGeometry g;
  g.version = (ni > 32767 || nj > 32767 || nk > 32767) ? 2 : 1;
  g.ndim = 3;
  g.ni = ni;
  g.nj = nj;
  g.nk = nk;
  g.pixdim = {dx, dy, dz};
  g.xyz_units = 2;  // NIFTI_UNITS_MM
  g.qform_code = 1;
  g.sform_code = 1;
  g.quatern_b = 0;
  g.quatern_c = 0;
  g.quatern_d = 1;  // rotation by pi about z: diag(-1, -1, 1)
  g.qfac = 1;
  g.qoffset_x = dx * static_cast<double>(ni - 1) / 2;
  g.qoffset_y = dy * static_cast<double>(nj - 1) / 2;
  g.qoffset_z = -dz * static_cast<double>(nk - 1) / 2;
  Mat44 m{};
  m[0] = {-dx, 0, 0, g.qoffset_x};
  m[1] = {0, -dy, 0, g.qoffset_y};
  m[2] = {0, 0, dz, g.qoffset_z};
  m[3] = {0, 0, 0, 1};
  g.qform = m;
  g.sform = m;
  return g;
}

}  // namespace srmds::io
