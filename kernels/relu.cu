// ReLU on (possibly strided) tensors (see ops/relu.hpp):
//   forward:  y = max(x, 0), NaN propagated (math::relu, shared with the CPU backend)
//   backward: dx = dy [y > 0]   (written or added)
// One thread per element (rows_kernel over rows of C*H*W elements).
#include "common.cuh"
#include "srmds/ops/math/scalar.hpp"

namespace srmds::cuda {

// ---- forward ---------------------------------------------------------------------------------
namespace {
using namespace detail;

struct ReluForwardKernel {
  Rows<const float> x;
  Rows<float> y;
  __device__ void operator()(int64_t r, int64_t i) const { y.at(r, i) = math::relu(x.at(r, i)); }
};

void relu_forward_launch(Rows<const float> x, Rows<float> y, Extent e, cudaStream_t stream) {
  launch_rows(ReluForwardKernel{x, y}, e, stream, "relu_forward");
}

}  // namespace

void relu_forward(Ctx& ctx, const TF& x, TF& y) {
  relu_forward_launch(detail::rows_of(x), detail::rows_of(y), detail::row_extent(x.shape()), ctx.stream());
}

// ---- backward --------------------------------------------------------------------------------
namespace {
using namespace detail;

struct ReluBackwardKernel {
  Rows<const float> y, dy;
  Rows<float> dx;
  bool accumulate;
  __device__ void operator()(int64_t r, int64_t i) const {
    write_out(dx.at(r, i), y.at(r, i) > 0.0f ? dy.at(r, i) : 0.0f, accumulate);
  }
};

void relu_backward_launch(Rows<const float> y, Rows<const float> dy, Rows<float> dx, bool accumulate, Extent e,
                          cudaStream_t stream) {
  launch_rows(ReluBackwardKernel{y, dy, dx, accumulate}, e, stream, "relu_backward");
}

}  // namespace

void relu_backward(Ctx& ctx, const TF& y, const TF& dy, TF& dx, WriteMode mode) {
  relu_backward_launch(detail::rows_of(y), detail::rows_of(dy), detail::rows_of(dx), mode == WriteMode::Accumulate,
                       detail::row_extent(y.shape()), ctx.stream());
}

}  // namespace srmds::cuda
