// Bilinear resizing (N, C, h, w) -> (N, C, H, W) (see ops/upsample.hpp). The per-axis source taps
// (i0, i1, lambda) are bilinear_axis() from ops/math/bilinear.hpp, shared with the CPU backend.
//   forward:  one thread per output: y = (1 - ly)((1 - lx) x[i0, j0] + lx x[i0, j1])
//                                        + ly((1 - lx) x[i1, j0] + lx x[i1, j1])
//   backward: one thread per input pixel (p, q) gathers, without atomics,
//             dx[p, q] = sum_{d, e} wy(d, p) wx(e, q) dy[d, e],  w(d, p) = (i0(d) == p)(1 - l(d)) + (i1(d) == p) l(d),
//             over the outputs d whose taps touch p: i0(d) is non-decreasing in d and i1(d) == p implies
//             i0(d) in {p - 1, p}, so they are the contiguous range {d : p - 1 <= i0(d) <= p}, found by
//             binary search.
#include "common.cuh"
#include "srmds/ops/math/bilinear.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

__device__ __forceinline__ BilinearTap<float> tap(int d, int in, int out, bool align_corners) {
  return bilinear_axis<float>(d, in, out, align_corners);
}

void check_int_extents(const char* op, const Shape& a, const Shape& b) {
  SRMDS_CHECK(a.h() <= INT32_MAX && a.w() <= INT32_MAX && b.h() <= INT32_MAX && b.w() <= INT32_MAX,
              op << ": " << a << " / " << b << " extents exceed int");
}

}  // namespace

// ---- forward ---------------------------------------------------------------------------------
namespace {
using namespace detail;

struct UpsampleForwardKernel {
  Planes<const float> x;  // (N, C, h, w)
  Planes<float> y;        // (N, C, H, W)
  int ih, iw, oh, ow;
  bool align_corners;
  __device__ void operator()(int64_t p, int64_t o) const {
    const int i = static_cast<int>(o / ow), j = static_cast<int>(o % ow);
    const BilinearTap<float> a = tap(i, ih, oh, align_corners);
    const BilinearTap<float> b = tap(j, iw, ow, align_corners);
    const float* xp = x.plane(p);
    const float* r0 = xp + int64_t(a.i0) * iw;
    const float* r1 = xp + int64_t(a.i1) * iw;
    const float top = (1.0f - b.lambda) * r0[b.i0] + b.lambda * r0[b.i1];
    const float bot = (1.0f - b.lambda) * r1[b.i0] + b.lambda * r1[b.i1];
    y.plane(p)[o] = (1.0f - a.lambda) * top + a.lambda * bot;
  }
};

void upsample_bilinear_forward_launch(Planes<const float> x, Planes<float> y, int ih, int iw, int oh, int ow,
                                      bool align_corners, Extent e, cudaStream_t stream) {
  launch_rows(UpsampleForwardKernel{x, y, ih, iw, oh, ow, align_corners}, e, stream, "upsample_bilinear_forward");
}

}  // namespace

void upsample_bilinear_forward(Ctx& ctx, const TF& x, TF& y, bool align_corners) {
  const Shape& si = x.shape();
  const Shape& so = y.shape();
  check_int_extents("upsample_bilinear_forward", si, so);
  upsample_bilinear_forward_launch(detail::planes_of(x), detail::planes_of(y), int(si.h()), int(si.w()), int(so.h()),
                                   int(so.w()), align_corners, detail::plane_extent(so), ctx.stream());
}

// ---- backward --------------------------------------------------------------------------------
namespace {
using namespace detail;

// First output index d in [0, out) with i0(d) >= v (out when none).
__device__ int first_with_i0_at_least(int v, int in, int out, bool align_corners) {
  int lo = 0, hi = out;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (tap(mid, in, out, align_corners).i0 >= v)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

// Weight of input index p in output d's interpolation along one axis.
__device__ __forceinline__ float weight_of(const BilinearTap<float>& t, int p) {
  return (t.i0 == p ? 1.0f - t.lambda : 0.0f) + (t.i1 == p ? t.lambda : 0.0f);
}

struct UpsampleBackwardKernel {
  Planes<const float> dy;  // (N, C, H, W)
  Planes<float> dx;        // (N, C, h, w)
  int ih, iw, oh, ow;
  bool align_corners, accumulate;
  __device__ void operator()(int64_t plane, int64_t k) const {
    const int p = static_cast<int>(k / iw), q = static_cast<int>(k % iw);
    const int d_lo = first_with_i0_at_least(p - 1, ih, oh, align_corners);
    const int d_hi = first_with_i0_at_least(p + 1, ih, oh, align_corners);
    const int e_lo = first_with_i0_at_least(q - 1, iw, ow, align_corners);
    const int e_hi = first_with_i0_at_least(q + 1, iw, ow, align_corners);
    const float* g = dy.plane(plane);
    float sum = 0.0f;
    for (int d = d_lo; d < d_hi; ++d) {
      const float wy = weight_of(tap(d, ih, oh, align_corners), p);
      if (wy == 0.0f) continue;
      const float* row = g + int64_t(d) * ow;
      float acc = 0.0f;
      for (int e = e_lo; e < e_hi; ++e) acc += weight_of(tap(e, iw, ow, align_corners), q) * row[e];
      sum += wy * acc;
    }
    write_out(dx.plane(plane)[k], sum, accumulate);
  }
};

void upsample_bilinear_backward_launch(Planes<const float> dy, Planes<float> dx, int ih, int iw, int oh, int ow,
                                       bool align_corners, bool accumulate, Extent e, cudaStream_t stream) {
  launch_rows(UpsampleBackwardKernel{dy, dx, ih, iw, oh, ow, align_corners, accumulate}, e, stream,
              "upsample_bilinear_backward");
}

}  // namespace

void upsample_bilinear_backward(Ctx& ctx, const TF& dy, TF& dx, bool align_corners, WriteMode mode) {
  const Shape& si = dx.shape();
  const Shape& so = dy.shape();
  check_int_extents("upsample_bilinear_backward", si, so);
  upsample_bilinear_backward_launch(detail::planes_of(dy), detail::planes_of(dx), int(si.h()), int(si.w()),
                                    int(so.h()), int(so.w()), align_corners, mode == WriteMode::Accumulate,
                                    detail::plane_extent(si), ctx.stream());
}

}  // namespace srmds::cuda
