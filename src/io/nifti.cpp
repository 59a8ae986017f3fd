// NIfTI read/write through nifti_clib (see io/nifti.hpp for the contract).
#include "srmds/io/nifti.hpp"
#include "srmds/core/limits.hpp"

#include <nifti2_io.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <new>

#include "nifti_detail.hpp"
#include "srmds/core/error.hpp"
#include "srmds/io/atomic_file.hpp"

namespace srmds::io {

namespace {

struct NiftiFree {
  void operator()(nifti_image* nim) const noexcept {
    if (nim) nifti_image_free(nim);
  }
};
using NiftiPtr = std::unique_ptr<nifti_image, NiftiFree>;

void quiet_nifti_clib() { nifti_set_debug_level(0); }

template <class S>
void convert(const void* src, int64_t n, double slope, double inter, bool scaled, float* dst) {
  const S* s = static_cast<const S*>(src);
  if (scaled) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<double>(s[i]) * slope + inter);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
  }
}

void to_float(const void* src, int datatype, int64_t n, double slope, double inter, float* dst) {
  const bool scaled = std::isfinite(slope) && slope != 0.0;
  if (!std::isfinite(inter)) inter = 0.0;
  switch (datatype) {
    case DT_UINT8: convert<uint8_t>(src, n, slope, inter, scaled, dst); break;
    case DT_INT8: convert<int8_t>(src, n, slope, inter, scaled, dst); break;
    case DT_INT16: convert<int16_t>(src, n, slope, inter, scaled, dst); break;
    case DT_UINT16: convert<uint16_t>(src, n, slope, inter, scaled, dst); break;
    case DT_INT32: convert<int32_t>(src, n, slope, inter, scaled, dst); break;
    case DT_UINT32: convert<uint32_t>(src, n, slope, inter, scaled, dst); break;
    case DT_FLOAT32: convert<float>(src, n, slope, inter, scaled, dst); break;
    case DT_FLOAT64: convert<double>(src, n, slope, inter, scaled, dst); break;
    default: SRMDS_THROW("NIfTI: internal error: datatype " << datatype << " passed validation");
  }
}

Mat44 from_dmat(const nifti_dmat44& m) {
  Mat44 r{};
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) r[static_cast<size_t>(a)][static_cast<size_t>(b)] = m.m[a][b];
  return r;
}
nifti_dmat44 to_dmat(const Mat44& m) {
  nifti_dmat44 r{};
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) r.m[a][b] = m[static_cast<size_t>(a)][static_cast<size_t>(b)];
  return r;
}

// Throws the most precise message for a file nifti_clib could not read.
[[noreturn]] void throw_unreadable(const std::string& path, const NiftiHeaderInfo& h) {
  const int64_t need = h.vox_offset + h.data_bytes();
  if (detail::nifti_extension(path) == detail::NiftiExtension::NiiGz) {
    std::string zerr;
    const int64_t have = detail::decompressed_size(path, &zerr);
    if (have >= 0 && have < need)
      SRMDS_THROW("NIfTI '" << path << "': truncated file (" << have << " bytes after decompression; the header promises "
                            << h.data_bytes() << " bytes of voxels at offset " << h.vox_offset << ", " << need
                            << " in all)" << (zerr.empty() ? "" : " [zlib: " + zerr + "]"));
    if (!zerr.empty()) SRMDS_THROW("NIfTI '" << path << "': corrupt gzip stream (" << zerr << ")");
  }
  SRMDS_THROW("NIfTI '" << path << "': nifti_clib could not read the file (header passed validation: NIfTI-" << h.version
                        << ", " << nifti_datatype_name(h.datatype) << ", " << h.ni << " x " << h.nj << " x " << h.nk << ")");
}

}  // namespace

NiftiVolume read_nifti(const std::string& path) {
  const NiftiHeaderInfo h = read_nifti_header(path);
  // Raw bytes plus the float copy, checked before anything is read (a gzip bomb or a header that
  // promises more than the budget fails here, naming the file).
  check_budget(checked_product({static_cast<uint64_t>(h.ni), static_cast<uint64_t>(h.nj), static_cast<uint64_t>(h.nk),
                                static_cast<uint64_t>(h.bytes_per_voxel + sizeof(float))}),
               "NIfTI '" + path + "': decoding its " + std::to_string(h.ni) + " x " + std::to_string(h.nj) + " x " +
                   std::to_string(h.nk) + " voxels");
  quiet_nifti_clib();
  // The header through nifti_clib; the data through znzlib + nifti_read_buffer (byte swapping) from
  // exactly `path`: nifti_image_read / nifti_image_load find the data file by base name and read
  // "x.nii" when asked for "x.nii.gz" if both exist.
  NiftiPtr nim(nifti_image_read(path.c_str(), 0));
  if (!nim) throw_unreadable(path, h);
  const int64_t nx = nim->nx, ny = std::max<int64_t>(nim->ny, 1), nz = std::max<int64_t>(nim->nz, 1);
  SRMDS_CHECK(nx == h.ni && ny == h.nj && nz == h.nk && nim->nvox == h.ni * h.nj * h.nk && nim->datatype == h.datatype,
              "NIfTI '" << path << "': nifti_clib read " << nim->nx << " x " << nim->ny << " x " << nim->nz << " "
                        << nifti_datatype_name(nim->datatype) << " but the header says " << h.ni << " x " << h.nj
                        << " x " << h.nk << " " << nifti_datatype_name(h.datatype));

  NiftiVolume v;
  v.path = path;
  v.datatype = h.datatype;
  v.scl_slope = nim->scl_slope;
  v.scl_inter = nim->scl_inter;
  NiftiGeometry& g = v.geometry;
  g.version = h.version;
  g.ndim = h.ndim >= 3 ? 3 : 2;
  g.ni = h.ni;
  g.nj = h.nj;
  g.nk = h.nk;
  g.pixdim = {nim->dx, nim->dy, nim->dz};
  g.xyz_units = nim->xyz_units;
  g.time_units = nim->time_units;
  g.qform_code = nim->qform_code;
  g.sform_code = nim->sform_code;
  g.quatern_b = nim->quatern_b;
  g.quatern_c = nim->quatern_c;
  g.quatern_d = nim->quatern_d;
  g.qoffset_x = nim->qoffset_x;
  g.qoffset_y = nim->qoffset_y;
  g.qoffset_z = nim->qoffset_z;
  g.qfac = nim->qfac < 0 ? -1.0 : 1.0;
  g.qform = from_dmat(nim->qto_xyz);
  g.sform = from_dmat(nim->sto_xyz);

  // Read in chunks so that memory grows only with data actually present: a small corrupt .gz
  // whose header promises gigabytes fails at its end instead of allocating them up front.
  std::vector<unsigned char> raw;
  try {
    const bool gz = detail::nifti_extension(path) == detail::NiftiExtension::NiiGz;
    znzFile fp = znzopen(path.c_str(), "rb", gz ? 1 : 0);
    if (znz_isnull(fp)) SRMDS_THROW("NIfTI '" << path << "': cannot open for reading");
    bool ok = znzseek(fp, static_cast<znz_off_t>(h.vox_offset), SEEK_SET) >= 0;
    const int64_t total = h.data_bytes();
    const int64_t chunk = (int64_t{32} << 20) / h.bytes_per_voxel * h.bytes_per_voxel;  // whole voxels
    for (int64_t done = 0; ok && done < total;) {
      const int64_t n = std::min(chunk, total - done);
      raw.resize(static_cast<size_t>(done + n));
      ok = nifti_read_buffer(fp, raw.data() + done, n, nim.get()) == n;
      done += n;
    }
    znzclose(fp);
    if (!ok) throw_unreadable(path, h);
    v.data.resize(static_cast<size_t>(h.ni * h.nj * h.nk));
  } catch (const std::bad_alloc&) {
    SRMDS_THROW("NIfTI '" << path << "': out of memory decoding its " << h.ni << " x " << h.nj << " x " << h.nk
                          << " voxels");
  }
  to_float(raw.data(), h.datatype, static_cast<int64_t>(v.data.size()), nim->scl_slope, nim->scl_inter, v.data.data());
  return v;
}

std::pair<NiftiVolume, NiftiVolume> read_nifti_pair(const std::string& image_path, const std::string& mask_path) {
  // Headers first: a mismatch is reported before any voxel data is read.
  const NiftiHeaderInfo hi = read_nifti_header(image_path);
  const NiftiHeaderInfo hm = read_nifti_header(mask_path);
  if (hi.ni != hm.ni || hi.nj != hm.nj || hi.nk != hm.nk)
    SRMDS_THROW("NIfTI image/mask size mismatch: image '" << image_path << "' is " << hi.ni << " x " << hi.nj << " x "
                                                          << hi.nk << " but mask '" << mask_path << "' is " << hm.ni
                                                          << " x " << hm.nj << " x " << hm.nk);
  NiftiVolume image = read_nifti(image_path);
  NiftiVolume mask = read_nifti(mask_path);
  return {std::move(image), std::move(mask)};
}

void write_nifti(const std::string& path, const NiftiGeometry& g, const float* data, NiftiType type) {
  const detail::NiftiExtension ext = detail::nifti_extension(path);
  if (ext == detail::NiftiExtension::Other)
    SRMDS_THROW("NIfTI '" << path << "': cannot write: the file name must end in .nii or .nii.gz");
  SRMDS_CHECK(g.ni >= 1 && g.nj >= 1 && g.nk >= 1 && g.ni <= kMaxNiftiVoxels && g.nj <= kMaxNiftiVoxels &&
                  g.nk <= kMaxNiftiVoxels && g.ni * g.nj <= kMaxNiftiVoxels && g.voxels() <= kMaxNiftiVoxels,
              "NIfTI '" << path << "': cannot write a volume of " << g.ni << " x " << g.nj << " x " << g.nk << " voxels");
  SRMDS_CHECK(data != nullptr, "NIfTI '" << path << "': cannot write: no data");
  for (double p : g.pixdim)
    SRMDS_CHECK(std::isfinite(p), "NIfTI '" << path << "': cannot write: non-finite pixdim " << p);

  // Typed voxel bytes.
  const int64_t n = g.voxels();
  int datatype = DT_FLOAT32;
  std::vector<unsigned char> bytes;
  auto to_integer = [&](auto tag, double lo, double hi) {
    using I = decltype(tag);
    bytes.resize(static_cast<size_t>(n) * sizeof(I));
    I* out = reinterpret_cast<I*>(bytes.data());
    for (int64_t i = 0; i < n; ++i) {
      const double r = std::nearbyint(static_cast<double>(data[i]));
      if (!(r >= lo && r <= hi))
        SRMDS_THROW("NIfTI '" << path << "': cannot write value " << data[i] << " at voxel " << i << " as "
                              << (sizeof(I) == 1 ? "uint8" : "int16") << " (range " << lo << ".." << hi << ")");
      out[i] = static_cast<I>(r);
    }
  };
  switch (type) {
    case NiftiType::Uint8:
      datatype = DT_UINT8;
      to_integer(uint8_t{}, 0.0, 255.0);
      break;
    case NiftiType::Int16:
      datatype = DT_INT16;
      to_integer(int16_t{}, -32768.0, 32767.0);
      break;
    case NiftiType::Float32:
      datatype = DT_FLOAT32;
      bytes.resize(static_cast<size_t>(n) * sizeof(float));
      std::memcpy(bytes.data(), data, bytes.size());
      break;
  }
  const int version = (g.version == 2 || g.ni > 32767 || g.nj > 32767 || g.nk > 32767) ? 2 : 1;
  const int ndim = g.nk > 1 ? 3 : (g.ndim == 2 ? 2 : 3);

  write_file_atomic(path, [&](const std::string& tmp) {
    quiet_nifti_clib();
    const int64_t dims[8] = {ndim, g.ni, g.nj, g.nk, 1, 1, 1, 1};
    NiftiPtr nim(nifti_make_new_nim(dims, datatype, 0));
    if (!nim) SRMDS_THROW("NIfTI '" << path << "': nifti_clib could not create an image header");
    nim->nifti_type = version == 2 ? NIFTI_FTYPE_NIFTI2_1 : NIFTI_FTYPE_NIFTI1_1;
    nim->dx = nim->pixdim[1] = g.pixdim[0];
    nim->dy = nim->pixdim[2] = g.pixdim[1];
    nim->dz = nim->pixdim[3] = g.pixdim[2];
    nim->xyz_units = g.xyz_units;
    nim->time_units = g.time_units;
    nim->scl_slope = 1.0;
    nim->scl_inter = 0.0;
    nim->qform_code = g.qform_code;
    nim->quatern_b = g.quatern_b;
    nim->quatern_c = g.quatern_c;
    nim->quatern_d = g.quatern_d;
    nim->qoffset_x = g.qoffset_x;
    nim->qoffset_y = g.qoffset_y;
    nim->qoffset_z = g.qoffset_z;
    nim->qfac = nim->pixdim[0] = g.qfac < 0 ? -1.0 : 1.0;
    nim->qto_xyz = nifti_quatern_to_dmat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                                           nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy, nim->dz, nim->qfac);
    nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
    nim->sform_code = g.sform_code;
    nim->sto_xyz = to_dmat(g.sform);
    nim->sto_ijk = nifti_dmat44_inverse(nim->sto_xyz);
    std::strncpy(nim->descrip, "srmds", sizeof(nim->descrip) - 1);
    for (int d = ndim + 1; d < 8; ++d) nim->dim[d] = 1;
    nim->nt = nim->nu = nim->nv = nim->nw = 1;
    if (ndim < 3) nim->nz = 1;
    nim->iname_offset = version == 2 ? 544 : 352;  // header + 4-byte extension flag, no extensions

    // Header bytes from nifti_clib; file I/O through znzlib (nifti_image_write picks the file by
    // base name and cannot write single-file NIfTI-2 in nifti_clib 3.0.1).
    nifti_1_header h1{};
    nifti_2_header h2{};
    const void* hdr = nullptr;
    size_t hdr_bytes = 0;
    if (version == 1) {
      if (nifti_convert_nim2n1hdr(nim.get(), &h1) != 0) SRMDS_THROW("NIfTI '" << path << "': nifti_clib could not build the header");
      h1.vox_offset = 352;
      std::memcpy(h1.magic, "n+1", 4);
      hdr = &h1;
      hdr_bytes = sizeof h1;
    } else {
      if (nifti_convert_nim2n2hdr(nim.get(), &h2) != 0) SRMDS_THROW("NIfTI '" << path << "': nifti_clib could not build the header");
      h2.vox_offset = 544;
      static const char kMagic2[8] = {'n', '+', '2', 0, '\r', '\n', '\032', '\n'};
      std::memcpy(h2.magic, kMagic2, 8);
      hdr = &h2;
      hdr_bytes = sizeof h2;
    }
    // gzip level 1 (as nibabel): CT noise compresses little, and level 6 is several times slower.
    znzFile fp = znzopen(tmp.c_str(), "wb1", ext == detail::NiftiExtension::NiiGz ? 1 : 0);
    if (znz_isnull(fp)) SRMDS_THROW("NIfTI '" << path << "': cannot create a file in its folder (" << std::strerror(errno) << ")");
    const char extender[4] = {0, 0, 0, 0};
    bool ok = znzwrite(hdr, 1, hdr_bytes, fp) == hdr_bytes && znzwrite(extender, 1, 4, fp) == 4 &&
              znzwrite(bytes.data(), 1, bytes.size(), fp) == bytes.size();
    ok = (znzclose(fp) == 0) && ok;
    if (!ok) SRMDS_THROW("NIfTI '" << path << "': write failed (" << std::strerror(errno) << ")");

    // Check that a complete, valid file was written.
    const NiftiHeaderInfo back = detail::read_nifti_header_as(tmp, ext);
    const int64_t need = back.vox_offset + static_cast<int64_t>(bytes.size());
    int64_t have = need;
    std::string zerr;
    if (ext == detail::NiftiExtension::NiiGz) have = detail::decompressed_size(tmp, &zerr);
    if (back.ni != g.ni || back.nj != g.nj || back.nk != g.nk || back.datatype != datatype || have < need || !zerr.empty())
      SRMDS_THROW("NIfTI '" << path << "': write failed (the written file is incomplete or wrong: "
                            << have << " of " << need << " bytes" << (zerr.empty() ? "" : ", zlib: " + zerr) << ")");
  });
}

void write_nifti_mask(const std::string& path, const NiftiGeometry& g, const std::vector<uint8_t>& mask) {
  SRMDS_CHECK(static_cast<int64_t>(mask.size()) == g.voxels(),
              "NIfTI '" << path << "': mask has " << mask.size() << " voxels, geometry " << g.ni << " x " << g.nj << " x "
                        << g.nk << " needs " << g.voxels());
  std::vector<float> f(mask.begin(), mask.end());
  write_nifti(path, g, f.data(), NiftiType::Uint8);
}

void write_nifti_float(const std::string& path, const NiftiGeometry& g, const std::vector<float>& data) {
  SRMDS_CHECK(static_cast<int64_t>(data.size()) == g.voxels(),
              "NIfTI '" << path << "': volume has " << data.size() << " voxels, geometry " << g.ni << " x " << g.nj
                        << " x " << g.nk << " needs " << g.voxels());
  write_nifti(path, g, data.data(), NiftiType::Float32);
}

}  // namespace srmds::io
