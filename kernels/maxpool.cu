// 2x2 max pooling, stride 2 (see ops/maxpool.hpp). One thread per output (n, c, i, j):
//   forward:  y = max of x[2i .. 2i+1, 2j .. 2j+1] in row-major order, the first maximum winning
//             (a NaN wins); argmax = its index h * W + w in the (n, c) input plane. The window
//             scan is maxpool2_window_argmax() from ops/math/maxpool.hpp, shared with the CPU backend;
//   backward: each output's thread writes its whole 2x2 window of dx (dy at the argmax, 0 elsewhere,
//             or adds dy there when accumulating): windows are disjoint, so no atomics.
#include "common.cuh"
#include "srmds/ops/math/maxpool.hpp"

namespace srmds::cuda {

// ---- forward ---------------------------------------------------------------------------------
namespace {
using namespace detail;

struct MaxpoolForwardKernel {
  Planes<const float> x;  // (N, C, H, W)
  Planes<float> y;        // (N, C, H/2, W/2)
  int32_t* argmax;        // (N, C, H/2, W/2), contiguous
  int width, out_width;
  __device__ void operator()(int64_t p, int64_t o) const {
    const int i = static_cast<int>(o / out_width), j = static_cast<int>(o % out_width);
    argmax[p * y.plane_size + o] = maxpool2_window_argmax(x.plane(p), width, i, j, &y.plane(p)[o]);
  }
};

void maxpool2_forward_launch(Planes<const float> x, Planes<float> y, int32_t* argmax, int width, int out_width,
                             Extent e, cudaStream_t stream) {
  launch_rows(MaxpoolForwardKernel{x, y, argmax, width, out_width}, e, stream, "maxpool2_forward");
}

}  // namespace

void maxpool2_forward(Ctx& ctx, const TF& x, TF& y, Tensor<int32_t, Cuda>& argmax) {
  const Shape& s = y.shape();
  SRMDS_CHECK(argmax.is_contiguous(), "maxpool2_forward: argmax " << argmax.shape() << " is a strided view");
  SRMDS_CHECK(x.shape().h() * x.shape().w() <= INT32_MAX,
              "maxpool2_forward: x " << x.shape() << " has too many pixels per plane for int32 argmax");
  maxpool2_forward_launch(detail::planes_of(x), detail::planes_of(y), argmax.data(), static_cast<int>(x.shape().w()),
                          static_cast<int>(s.w()), detail::plane_extent(s), ctx.stream());
}

// ---- backward --------------------------------------------------------------------------------
namespace {
using namespace detail;

struct MaxpoolBackwardKernel {
  Planes<const float> dy;  // (N, C, H/2, W/2)
  const int32_t* argmax;   // (N, C, H/2, W/2), contiguous
  Planes<float> dx;        // (N, C, H, W)
  int64_t width, out_width;
  bool accumulate;
  __device__ void operator()(int64_t p, int64_t o) const {
    const int64_t i = o / out_width, j = o % out_width;
    const float g = dy.plane(p)[o];
    const int64_t best = argmax[p * dy.plane_size + o];
    float* dxp = dx.plane(p);
    const int64_t top = 2 * i * width + 2 * j;
    const int64_t window[4] = {top, top + 1, top + width, top + width + 1};
    for (int q = 0; q < 4; ++q) {
      const float v = window[q] == best ? g : 0.0f;
      if (accumulate)
        dxp[window[q]] += v;
      else
        dxp[window[q]] = v;
    }
  }
};

void maxpool2_backward_launch(Planes<const float> dy, const int32_t* argmax, Planes<float> dx, int64_t width,
                              int64_t out_width, bool accumulate, Extent e, cudaStream_t stream) {
  launch_rows(MaxpoolBackwardKernel{dy, argmax, dx, width, out_width, accumulate}, e, stream, "maxpool2_backward");
}

}  // namespace

void maxpool2_backward(Ctx& ctx, const TF& dy, const Tensor<int32_t, Cuda>& argmax, TF& dx, WriteMode mode) {
  const Shape& s = dy.shape();
  SRMDS_CHECK(argmax.is_contiguous(), "maxpool2_backward: argmax " << argmax.shape() << " is a strided view");
  maxpool2_backward_launch(detail::planes_of(dy), argmax.data(), detail::planes_of(dx), dx.shape().w(), s.w(),
                           mode == WriteMode::Accumulate, detail::plane_extent(s), ctx.stream());
}

}  // namespace srmds::cuda
