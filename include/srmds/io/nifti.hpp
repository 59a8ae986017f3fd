// NIfTI volumes (SPEC §7, §9): read NIfTI-1 / NIfTI-2 (.nii, .nii.gz) through nifti_clib into float
// voxels, write uint8 masks / int16 / float32 volumes with a reference volume's geometry.
//
// Layout: voxel (i, j, k) is data[i + ni * (j + nj * k)] (on-disk order, i fastest). Slice k is the
// (H = nj) x (W = ni) row-major block starting at data + k * ni * nj: tensor W runs along the file's
// first axis, H along its second (nibabel: data[:, :, k].T).
//
// Values: stored value v becomes v * scl_slope + scl_inter when scl_slope is finite and non-zero
// (otherwise v; a non-finite scl_inter counts as 0), computed in double and stored as float.
//
// Accepted: single-file .nii / .nii.gz, NIfTI-1 (348-byte header) or NIfTI-2 (540), either byte
// order, datatypes uint8 int8 int16 uint16 int32 uint32 float32 float64, 2-D (nk = 1) or 3-D.
// Rejected with srmds::Error naming the file and the problem: missing file, other extensions,
// truncated header or data, wrong sizeof_hdr / magic, two-file (.hdr/.img) NIfTI, other datatypes
// (complex, RGB, 64-bit integers, ...), 4-D and higher (any dim[4..7] > 1), non-positive dims,
// more than kMaxNiftiVoxels voxels (dimension overflow), vox_offset outside the file.
//
// Reading: the header is validated by this code (through zlib for .gz), then parsed by nifti_clib
// (nifti_image_read without data); the voxels are read from exactly `path` with znzlib and
// nifti_read_buffer (byte swapping; it replaces non-finite float voxels by 0), in chunks, so a
// corrupt header cannot make it allocate more than the file holds. (nifti_image_read with data
// looks the data file up by base name and reads "x.nii" when asked for "x.nii.gz" if both exist.)
//
// Writing is atomic (io/atomic_file.hpp): the header comes from nifti_clib
// (nifti_convert_nim2n1hdr / n2hdr), header + data are written with znzlib to a temporary file
// with the same extensions (".gz" selects gzip, level 1), verified (header re-validated, full data
// length present) and renamed. No partial file is left behind on error. (nifti_image_write cannot
// write single-file NIfTI-2 in nifti_clib 3.0.1.)
//
// nifti_clib's diagnostics on stderr are switched off (nifti_set_debug_level(0), a global setting
// of that library) by these functions; errors are reported only through srmds::Error.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace srmds::io {

// Largest accepted voxel count (2^31): larger headers are reported as a dimension overflow.
constexpr int64_t kMaxNiftiVoxels = int64_t{1} << 31;

using Mat44 = std::array<std::array<double, 4>, 4>;  // row-major, maps (i, j, k, 1) to (x, y, z, 1)

// Everything needed to write another volume on the same grid.
struct NiftiGeometry {
  int version = 1;   // 1: NIfTI-1, 2: NIfTI-2 (a NIfTI-1 writer switches to 2 when dims exceed 32767)
  int ndim = 3;      // dim[0] as read (2 or 3); written back unchanged
  int64_t ni = 1, nj = 1, nk = 1;
  std::array<double, 3> pixdim{1.0, 1.0, 1.0};  // dx, dy, dz
  int xyz_units = 0, time_units = 0;           // NIFTI_UNITS_* codes
  int qform_code = 0, sform_code = 0;          // NIFTI_XFORM_* codes
  // qform as stored: quaternion (b, c, d), offsets (x, y, z), qfac (+1 or -1).
  double quatern_b = 0, quatern_c = 0, quatern_d = 0;
  double qoffset_x = 0, qoffset_y = 0, qoffset_z = 0;
  double qfac = 1;
  Mat44 qform{};  // qto_xyz as computed by nifti_clib from the quaternion, pixdim and qfac
  Mat44 sform{};  // sto_xyz (srow_x, srow_y, srow_z, [0 0 0 1])

  int64_t voxels() const { return ni * nj * nk; }
  int64_t slice_voxels() const { return ni * nj; }
};

// A new geometry: ni x nj x nk voxels of size dx x dy x dz mm (xyz_units = mm), qform and sform
// both "scanner anatomical" (code 1) holding the same affine diag(-dx, -dy, dz) (an LPS-ordered
// grid shown in RAS: a rotation by 180 degrees about z, quaternion (0, 0, 1)) centred on the grid.
NiftiGeometry make_nifti_geometry(int64_t ni, int64_t nj, int64_t nk, double dx, double dy, double dz);

// What the pre-validation learnt from the raw header.
struct NiftiHeaderInfo {
  int version = 0;          // 1 or 2
  bool byte_swapped = false;
  int ndim = 0;
  std::array<int64_t, 8> dim{};  // as stored
  int datatype = 0;         // DT_* code
  int bytes_per_voxel = 0;
  int64_t vox_offset = 0;
  double scl_slope = 0, scl_inter = 0;
  int64_t ni = 1, nj = 1, nk = 1;
  int64_t data_bytes() const { return ni * nj * nk * bytes_per_voxel; }
};

// Reads and validates the header only (cheap: no voxel data is read, except that a .nii file's
// size is checked against vox_offset + data size). Throws srmds::Error on any problem listed above.
NiftiHeaderInfo read_nifti_header(const std::string& path);

struct NiftiVolume {
  std::string path;
  NiftiGeometry geometry;
  int datatype = 0;          // DT_* code of the file
  double scl_slope = 0, scl_inter = 0;  // as stored (already applied to data)
  std::vector<float> data;   // ni * nj * nk, i fastest

  int64_t ni() const { return geometry.ni; }
  int64_t nj() const { return geometry.nj; }
  int64_t nk() const { return geometry.nk; }
  // Slice k: (H = nj, W = ni) row-major.
  const float* slice(int64_t k) const { return data.data() + k * geometry.slice_voxels(); }
};

// Reads a volume (validated header, then nifti_clib). Throws srmds::Error naming `path`.
NiftiVolume read_nifti(const std::string& path);

// Reads an image and its mask and checks that their grids have the same (ni, nj, nk); a mismatch
// throws srmds::Error naming both files and both sizes.
std::pair<NiftiVolume, NiftiVolume> read_nifti_pair(const std::string& image_path, const std::string& mask_path);

// Output voxel types.
enum class NiftiType { Uint8, Int16, Float32 };

// Writes `data` (geometry.voxels() values, i fastest) with `geometry`. Uint8 and Int16 round to the
// nearest integer and throw if a value is non-finite or outside the type's range; scl_slope = 1,
// scl_inter = 0. The extension of `path` must be .nii or .nii.gz.
void write_nifti(const std::string& path, const NiftiGeometry& geometry, const float* data, NiftiType type);

// A uint8 mask (values as given) with the reference geometry.
void write_nifti_mask(const std::string& path, const NiftiGeometry& geometry, const std::vector<uint8_t>& mask);
// A float32 volume with the reference geometry.
void write_nifti_float(const std::string& path, const NiftiGeometry& geometry, const std::vector<float>& data);

// "uint8", "int16", ... or "DT_<code>" for a NIfTI datatype code.
std::string nifti_datatype_name(int datatype);

}  // namespace srmds::io
