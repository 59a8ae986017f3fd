// Resizing of one 2-D plane (H, W), row-major, to any size (SPEC §7: images bilinear, masks nearest,
// results resized back the same way).
//
// Bilinear uses align_corners = false, PyTorch's F.interpolate(mode="bilinear") default (no
// antialiasing). Along an axis of `in` -> `out` samples, output index d reads
//     s = max((d + 0.5) * in / out - 0.5, 0),  i0 = min(floor(s), in - 1),  i1 = min(i0 + 1, in - 1),
//     lambda = s - i0,   value = (1 - lambda) x[i0] + lambda x[i1]
// separably in H and W. Same size in and out is the identity.
//
// Nearest is centre-aligned, PyTorch's mode="nearest-exact":
//     src = min(floor((d + 0.5) * in / out), in - 1)      (exact integer arithmetic)
// so it maps pixel centres like the bilinear path; same size is the identity.
#pragma once

#include <cstdint>
#include <vector>

#include "srmds/core/error.hpp"

namespace srmds {

namespace detail {
struct LinearTap {
  int i0, i1;
  double lambda;
};
inline LinearTap linear_tap(int d, int in, int out) {
  double s = (static_cast<double>(d) + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5;
  s = s < 0.0 ? 0.0 : s;
  int i0 = static_cast<int>(s);
  i0 = i0 > in - 1 ? in - 1 : i0;
  const int i1 = i0 < in - 1 ? i0 + 1 : in - 1;
  return {i0, i1, s - static_cast<double>(i0)};
}
inline int nearest_index(int d, int in, int out) {
  const int64_t s = ((2 * static_cast<int64_t>(d) + 1) * in) / (2 * static_cast<int64_t>(out));
  return static_cast<int>(s < in - 1 ? s : in - 1);
}
inline void check_resize(const char* op, const void* src, int sh, int sw, const void* dst, int dh, int dw) {
  SRMDS_CHECK(sh > 0 && sw > 0 && dh > 0 && dw > 0, op << ": sizes (" << sh << ", " << sw << ") -> (" << dh << ", " << dw
                                                        << ") must be positive");
  SRMDS_CHECK(src != nullptr && dst != nullptr && src != dst, op << ": null or aliased buffers");
}
}  // namespace detail

// dst (dh, dw) <- bilinear(src (sh, sw)). src and dst must not overlap.
inline void resize_bilinear(const float* src, int sh, int sw, float* dst, int dh, int dw) {
  detail::check_resize("resize_bilinear", src, sh, sw, dst, dh, dw);
  std::vector<detail::LinearTap> tx(static_cast<size_t>(dw));
  for (int x = 0; x < dw; ++x) tx[static_cast<size_t>(x)] = detail::linear_tap(x, sw, dw);
  for (int y = 0; y < dh; ++y) {
    const detail::LinearTap ty = detail::linear_tap(y, sh, dh);
    const float* r0 = src + static_cast<int64_t>(ty.i0) * sw;
    const float* r1 = src + static_cast<int64_t>(ty.i1) * sw;
    float* out = dst + static_cast<int64_t>(y) * dw;
    for (int x = 0; x < dw; ++x) {
      const detail::LinearTap& t = tx[static_cast<size_t>(x)];
      const double top = (1.0 - t.lambda) * r0[t.i0] + t.lambda * r0[t.i1];
      const double bottom = (1.0 - t.lambda) * r1[t.i0] + t.lambda * r1[t.i1];
      out[x] = static_cast<float>((1.0 - ty.lambda) * top + ty.lambda * bottom);
    }
  }
}

// dst (dh, dw) <- nearest(src (sh, sw)); any trivially copyable T (float images, uint8 masks).
template <class T>
void resize_nearest(const T* src, int sh, int sw, T* dst, int dh, int dw) {
  detail::check_resize("resize_nearest", src, sh, sw, dst, dh, dw);
  std::vector<int> sx(static_cast<size_t>(dw));
  for (int x = 0; x < dw; ++x) sx[static_cast<size_t>(x)] = detail::nearest_index(x, sw, dw);
  for (int y = 0; y < dh; ++y) {
    const T* row = src + static_cast<int64_t>(detail::nearest_index(y, sh, dh)) * sw;
    T* out = dst + static_cast<int64_t>(y) * dw;
    for (int x = 0; x < dw; ++x) out[x] = row[sx[static_cast<size_t>(x)]];
  }
}

}  // namespace srmds
