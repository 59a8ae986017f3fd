// Elementwise kernels on (possibly strided) tensors: fill, copy, axpy (y += alpha x), ReLU
// (y = max(x, 0); dx = dy (y > 0)) and sigmoid (y = sigmoid_of(x); dx = dy y (1 - y)).
// The per-element sigmoid is sigmoid_of() from cpu/sigmoid.hpp, shared with the CPU backend.
#include "common.cuh"
#include "srmds/ops/math/scalar.hpp"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

struct FillOp {
  Rows<float> t;
  float value;
  __device__ void operator()(int64_t r, int64_t i) const { t.at(r, i) = value; }
};

struct AxpyOp {
  float alpha;
  Rows<const float> x;
  Rows<float> y;
  __device__ void operator()(int64_t r, int64_t i) const { y.at(r, i) += alpha * x.at(r, i); }
};

struct ReluForwardOp {
  Rows<const float> x;
  Rows<float> y;
  __device__ void operator()(int64_t r, int64_t i) const {
    const float v = x.at(r, i);
    y.at(r, i) = math::relu(v);
  }
};

struct ReluBackwardOp {
  Rows<const float> y, dy;
  Rows<float> dx;
  bool accumulate;
  __device__ void operator()(int64_t r, int64_t i) const {
    write_out(dx.at(r, i), y.at(r, i) > 0.0f ? dy.at(r, i) : 0.0f, accumulate);
  }
};

struct SigmoidForwardOp {
  Rows<const float> x;
  Rows<float> y;
  __device__ void operator()(int64_t r, int64_t i) const { y.at(r, i) = sigmoid_of(x.at(r, i)); }
};

struct SigmoidBackwardOp {
  Rows<const float> y, dy;
  Rows<float> dx;
  bool accumulate;
  __device__ void operator()(int64_t r, int64_t i) const {
    const float s = y.at(r, i);
    write_out(dx.at(r, i), dy.at(r, i) * s * (1.0f - s), accumulate);
  }
};

}  // namespace

void fill(Ctx& ctx, TF& t, float value) {
  const Shape& s = t.shape();
  launch_rows(ctx, row_count(s), row_length(s), FillOp{rows_of(t), value}, "fill");
}

// A strided copy is one 2-D memcpy: N rows of C*H*W elements with each side's batch stride as pitch.
void copy(Ctx& ctx, const TF& src, TF& dst) {
  if (src.numel() == 0 || src.data() == dst.data()) return;
  const Shape& s = src.shape();
  const size_t width = static_cast<size_t>(row_length(s)) * sizeof(float);
  if (src.is_contiguous() && dst.is_contiguous()) {
    SRMDS_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), static_cast<size_t>(src.numel()) * sizeof(float),
                                     cudaMemcpyDeviceToDevice, ctx.stream()));
  } else {
    SRMDS_CUDA_CHECK(cudaMemcpy2DAsync(dst.data(), static_cast<size_t>(dst.batch_stride()) * sizeof(float),
                                       src.data(), static_cast<size_t>(src.batch_stride()) * sizeof(float), width,
                                       static_cast<size_t>(row_count(s)), cudaMemcpyDeviceToDevice, ctx.stream()));
  }
}

void axpy(Ctx& ctx, float alpha, const TF& x, TF& y) {
  const Shape& s = x.shape();
  launch_rows(ctx, row_count(s), row_length(s), AxpyOp{alpha, rows_of(x), rows_of(y)}, "axpy");
}

void relu_forward(Ctx& ctx, const TF& x, TF& y) {
  const Shape& s = x.shape();
  launch_rows(ctx, row_count(s), row_length(s), ReluForwardOp{rows_of(x), rows_of(y)}, "relu_forward");
}

void relu_backward(Ctx& ctx, const TF& y, const TF& dy, TF& dx, WriteMode mode) {
  const Shape& s = y.shape();
  launch_rows(ctx, row_count(s), row_length(s),
              ReluBackwardOp{rows_of(y), rows_of(dy), rows_of(dx), mode == WriteMode::Accumulate}, "relu_backward");
}

void sigmoid_forward(Ctx& ctx, const TF& x, TF& y) {
  const Shape& s = x.shape();
  launch_rows(ctx, row_count(s), row_length(s), SigmoidForwardOp{rows_of(x), rows_of(y)}, "sigmoid_forward");
}

void sigmoid_backward(Ctx& ctx, const TF& y, const TF& dy, TF& dx, WriteMode mode) {
  const Shape& s = y.shape();
  launch_rows(ctx, row_count(s), row_length(s),
              SigmoidBackwardOp{rows_of(y), rows_of(dy), rows_of(dx), mode == WriteMode::Accumulate},
              "sigmoid_backward");
}

}  // namespace srmds::cuda
