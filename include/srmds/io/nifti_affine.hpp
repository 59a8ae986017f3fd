// Voxel-to-world affines of NIfTI geometries (SPEC §7): building a geometry from an affine (the
// DICOM reader), and lining up two grids that hold the same voxels with axes permuted or flipped
// (a mask written by another tool on the same series, e.g. dcm2niix's, which stores rows bottom-up).
//
// nifti_geometry_from_affine: sform = A (code 1, scanner), qform = nifti_clib's quaternion form of
// A (code 1; exact when A's columns are orthogonal), pixdim = the lengths of A's first three
// columns, xyz_units mm, NIfTI-1, ndim 3.
// nifti_affine: the affine a reader applies, sform when sform_code > 0, else qform when
// qform_code > 0, else none.
// grid_permutation(from, to): with f = A_from^-1 A_to t the `from` voxel that lies where `to`
// voxel t lies, the map when it is a signed permutation of axes onto the whole grid:
//     f[axis[a]] = flip[a] ? n_to[a] - 1 - t[a] : t[a]       (n_from[axis[a]] = n_to[a])
// within `tolerance` (in voxels) for every entry; nullopt otherwise.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "srmds/io/nifti.hpp"

namespace srmds::io {

NiftiGeometry nifti_geometry_from_affine(int64_t ni, int64_t nj, int64_t nk, const Mat44& affine);

std::optional<Mat44> nifti_affine(const NiftiGeometry& g);

struct GridPermutation {
  std::array<int, 3> axis{0, 1, 2};
  std::array<bool, 3> flip{false, false, false};
  bool identity() const { return axis == std::array<int, 3>{0, 1, 2} && !flip[0] && !flip[1] && !flip[2]; }
};

std::optional<GridPermutation> grid_permutation(const NiftiGeometry& from, const NiftiGeometry& to, double tolerance = 1e-3);

// Values on the `from` grid (i fastest) moved onto the `to` grid with the map p.
std::vector<float> permute_to_grid(const std::vector<float>& data, const NiftiGeometry& from, const GridPermutation& p,
                                   const NiftiGeometry& to);

}  // namespace srmds::io
