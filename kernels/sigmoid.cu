// Logistic sigmoid on (possibly strided) tensors (see ops/sigmoid.hpp):
//   forward:  y = sigmoid_of(x)   (overflow-free, shared with the CPU backend: ops/math/sigmoid.hpp)
//   backward: dx = dy y (1 - y)   (written or added)
// One thread per element (rows_kernel over rows of C*H*W elements).
#include "common.cuh"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds::cuda {

// ---- forward ---------------------------------------------------------------------------------
namespace {
using namespace detail;

struct SigmoidForwardKernel {
  Rows<const float> x;
  Rows<float> y;
  __device__ void operator()(int64_t r, int64_t i) const { y.at(r, i) = sigmoid_of(x.at(r, i)); }
};

void sigmoid_forward_launch(Rows<const float> x, Rows<float> y, Extent e, cudaStream_t stream) {
  launch_rows(SigmoidForwardKernel{x, y}, e, stream, "sigmoid_forward");
}

}  // namespace

void sigmoid_forward(Ctx& ctx, const TF& x, TF& y) {
  sigmoid_forward_launch(detail::rows_of(x), detail::rows_of(y), detail::row_extent(x.shape()), ctx.stream());
}

// ---- backward --------------------------------------------------------------------------------
namespace {
using namespace detail;

struct SigmoidBackwardKernel {
  Rows<const float> y, dy;
  Rows<float> dx;
  bool accumulate;
  __device__ void operator()(int64_t r, int64_t i) const {
    const float s = y.at(r, i);
    write_out(dx.at(r, i), dy.at(r, i) * s * (1.0f - s), accumulate);
  }
};

void sigmoid_backward_launch(Rows<const float> y, Rows<const float> dy, Rows<float> dx, bool accumulate, Extent e,
                             cudaStream_t stream) {
  launch_rows(SigmoidBackwardKernel{y, dy, dx, accumulate}, e, stream, "sigmoid_backward");
}

}  // namespace

void sigmoid_backward(Ctx& ctx, const TF& y, const TF& dy, TF& dx, WriteMode mode) {
  sigmoid_backward_launch(detail::rows_of(y), detail::rows_of(dy), detail::rows_of(dx),
                          mode == WriteMode::Accumulate, detail::row_extent(y.shape()), ctx.stream());
}

}  // namespace srmds::cuda
