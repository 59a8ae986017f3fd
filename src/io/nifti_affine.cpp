// Affines of NIfTI geometries (see io/nifti_affine.hpp).
#include "srmds/io/nifti_affine.hpp"

#include <nifti2_io.h>

#include <cmath>

#include "srmds/core/error.hpp"

namespace srmds::io {

namespace {

// Inverse of an affine [R t; 0 1]; nullopt when R is singular.
std::optional<Mat44> inverse_affine(const Mat44& a) {
  const auto& m = a;
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  if (!std::isfinite(det) || std::fabs(det) < 1e-12) return std::nullopt;
  Mat44 r{};
  r[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det;
  r[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
  r[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
  r[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det;
  r[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
  r[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
  r[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det;
  r[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
  r[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
  for (int i = 0; i < 3; ++i) {
    double t = 0;
    for (int j = 0; j < 3; ++j) t += r[static_cast<size_t>(i)][static_cast<size_t>(j)] * m[static_cast<size_t>(j)][3];
    r[static_cast<size_t>(i)][3] = -t;
  }
  r[3] = {0, 0, 0, 1};
  return r;
}

Mat44 multiply(const Mat44& a, const Mat44& b) {
  Mat44 r{};
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = 0; j < 4; ++j)
      for (size_t k = 0; k < 4; ++k) r[i][j] += a[i][k] * b[k][j];
  return r;
}

}  // namespace

NiftiGeometry nifti_geometry_from_affine(int64_t ni, int64_t nj, int64_t nk, const Mat44& a) {
  SRMDS_CHECK(ni >= 1 && nj >= 1 && nk >= 1, "nifti_geometry_from_affine: size " << ni << " x " << nj << " x " << nk);
  NiftiGeometry g;
  g.version = 1;
  g.ndim = 3;
  g.ni = ni;
  g.nj = nj;
  g.nk = nk;
  for (size_t c = 0; c < 3; ++c) {
    const double len = std::sqrt(a[0][c] * a[0][c] + a[1][c] * a[1][c] + a[2][c] * a[2][c]);
    SRMDS_CHECK(std::isfinite(len) && len > 0, "nifti_geometry_from_affine: column " << c << " of the affine has length " << len);
    g.pixdim[c] = len;
  }
  g.xyz_units = NIFTI_UNITS_MM;
  g.qform_code = NIFTI_XFORM_SCANNER_ANAT;
  g.sform_code = NIFTI_XFORM_SCANNER_ANAT;
  g.sform = a;
  g.sform[3] = {0, 0, 0, 1};
  nifti_dmat44 m{};
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) m.m[r][c] = g.sform[static_cast<size_t>(r)][static_cast<size_t>(c)];
  double qb = 0, qc = 0, qd = 0, qx = 0, qy = 0, qz = 0, dx = 0, dy = 0, dz = 0, qfac = 1;
  nifti_dmat44_to_quatern(m, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
  g.quatern_b = qb;
  g.quatern_c = qc;
  g.quatern_d = qd;
  g.qoffset_x = qx;
  g.qoffset_y = qy;
  g.qoffset_z = qz;
  g.qfac = qfac < 0 ? -1.0 : 1.0;
  const nifti_dmat44 q = nifti_quatern_to_dmat44(qb, qc, qd, qx, qy, qz, g.pixdim[0], g.pixdim[1], g.pixdim[2], g.qfac);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) g.qform[static_cast<size_t>(r)][static_cast<size_t>(c)] = q.m[r][c];
  return g;
}

std::optional<Mat44> nifti_affine(const NiftiGeometry& g) {
  if (g.sform_code > 0) return g.sform;
  if (g.qform_code > 0) return g.qform;
  return std::nullopt;
}

std::optional<GridPermutation> grid_permutation(const NiftiGeometry& from, const NiftiGeometry& to, double tol) {
  const std::optional<Mat44> af = nifti_affine(from), at = nifti_affine(to);
  if (!af || !at) return std::nullopt;
  const std::optional<Mat44> inv = inverse_affine(*af);
  if (!inv) return std::nullopt;
  const Mat44 m = multiply(*inv, *at);  // to voxel -> from voxel
  const int64_t n_to[3] = {to.ni, to.nj, to.nk}, n_from[3] = {from.ni, from.nj, from.nk};
  GridPermutation p;
  bool used[3] = {false, false, false};
  for (int a = 0; a < 3; ++a) {  // column a: where the `to` axis a goes
    int found = -1;
    for (int b = 0; b < 3; ++b) {
      const double v = m[static_cast<size_t>(b)][static_cast<size_t>(a)];
      // A flat `to` axis (one voxel) may have any step: only its direction matters.
      if (n_to[a] == 1 ? std::fabs(v) > tol : std::fabs(std::fabs(v) - 1.0) <= tol) {
        if (found >= 0) return std::nullopt;
        found = b;
      } else if (std::fabs(v) > tol) {
        return std::nullopt;
      }
    }
    if (found < 0 || used[found] || n_from[found] != n_to[a]) return std::nullopt;
    used[found] = true;
    p.axis[static_cast<size_t>(a)] = found;
    p.flip[static_cast<size_t>(a)] = m[static_cast<size_t>(found)][static_cast<size_t>(a)] < 0;
  }
  for (int a = 0; a < 3; ++a) {
    const int b = p.axis[static_cast<size_t>(a)];
    const double offset = m[static_cast<size_t>(b)][3];
    const double want = p.flip[static_cast<size_t>(a)] ? static_cast<double>(n_to[a] - 1) : 0.0;
    if (std::fabs(offset - want) > tol) return std::nullopt;
  }
  return p;
}

std::vector<float> permute_to_grid(const std::vector<float>& data, const NiftiGeometry& from, const GridPermutation& p,
                                   const NiftiGeometry& to) {
  SRMDS_CHECK(static_cast<int64_t>(data.size()) == from.voxels(),
              "permute_to_grid: " << data.size() << " values for a grid of " << from.voxels());
  const int64_t n_to[3] = {to.ni, to.nj, to.nk}, n_from[3] = {from.ni, from.nj, from.nk};
  for (int a = 0; a < 3; ++a)
    SRMDS_CHECK(n_from[p.axis[static_cast<size_t>(a)]] == n_to[a], "permute_to_grid: grids do not match the map");
  const int64_t stride_from[3] = {1, from.ni, from.ni * from.nj};
  std::vector<float> out(static_cast<size_t>(to.voxels()));
  size_t o = 0;
  for (int64_t k = 0; k < to.nk; ++k)
    for (int64_t j = 0; j < to.nj; ++j)
      for (int64_t i = 0; i < to.ni; ++i) {
        const int64_t t[3] = {i, j, k};
        int64_t src = 0;
        for (int a = 0; a < 3; ++a) {
          const int64_t v = p.flip[static_cast<size_t>(a)] ? n_to[a] - 1 - t[a] : t[a];
          src += v * stride_from[p.axis[static_cast<size_t>(a)]];
        }
        out[o++] = data[static_cast<size_t>(src)];
      }
  return out;
}

}  // namespace srmds::io
