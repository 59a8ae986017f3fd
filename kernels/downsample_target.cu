// Deep-supervision targets (see ops/downsample_target.hpp): out[n, c, i, j] is the mean, top-left
// value or maximum of the f x f block of the mask. One thread per output pixel; the block rule is
// downsample_target_at() from ops/math/downsample_target.hpp, shared with the CPU backend.
#include "common.cuh"
#include "srmds/ops/math/downsample_target.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

struct DownsampleTargetKernel {
  Planes<const float> mask;  // (N, C, H, W)
  Planes<float> out;         // (N, C, H/f, W/f)
  int width, out_width, factor;
  TargetMode mode;
  __device__ void operator()(int64_t p, int64_t o) const {
    const int i = static_cast<int>(o / out_width), j = static_cast<int>(o % out_width);
    out.plane(p)[o] = downsample_target_at(mask.plane(p), width, i, j, factor, mode);
  }
};

void downsample_target_launch(Planes<const float> mask, Planes<float> out, int width, int out_width, int factor,
                              TargetMode mode, Extent e, cudaStream_t stream) {
  launch_rows(DownsampleTargetKernel{mask, out, width, out_width, factor, mode}, e, stream, "downsample_target");
}

}  // namespace

void downsample_target(Ctx& ctx, const TF& mask, TF& out, int factor, TargetMode mode) {
  const Shape& s = out.shape();
  SRMDS_CHECK(mask.shape().w() <= INT32_MAX && mask.shape().h() <= INT32_MAX,
              "downsample_target: mask " << mask.shape() << " extents exceed int");
  downsample_target_launch(detail::planes_of(mask), detail::planes_of(out), static_cast<int>(mask.shape().w()),
                           static_cast<int>(s.w()), factor, mode, detail::plane_extent(s), ctx.stream());
}

}  // namespace srmds::cuda
