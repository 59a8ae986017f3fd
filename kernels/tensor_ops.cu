// Device-side tensor_ops (see ops/tensor_ops.hpp) on (possibly strided) tensors:
//   fill:  t = value                 (one thread per element)
//   copy:  dst = src                 (one cudaMemcpyAsync, or one 2-D copy with each side's batch
//                                     stride as its pitch when either side is a strided view)
//   axpy:  y += alpha x              (one thread per element)
// Host <-> device copies are in kernels/transfer.cpp.
#include "common.cuh"

namespace srmds::cuda {

// ---- fill ------------------------------------------------------------------------------------
namespace {
using namespace detail;

struct FillKernel {
  Rows<float> t;
  float value;
  __device__ void operator()(int64_t r, int64_t i) const { t.at(r, i) = value; }
};

void fill_launch(Rows<float> t, float value, Extent e, cudaStream_t stream) {
  launch_rows(FillKernel{t, value}, e, stream, "fill");
}

}  // namespace

void fill(Ctx& ctx, TF& t, float value) {
  fill_launch(detail::rows_of(t), value, detail::row_extent(t.shape()), ctx.stream());
}

// ---- copy ------------------------------------------------------------------------------------
namespace {
template <class T>
void copy_on_device(Ctx& ctx, const Tensor<T, Cuda>& src, Tensor<T, Cuda>& dst) {
  if (src.numel() == 0 || src.data() == dst.data()) return;
  const Shape& s = src.shape();
  const size_t width = static_cast<size_t>(detail::row_length(s)) * sizeof(T);
  detail::count_copy();
  if (src.is_contiguous() && dst.is_contiguous()) {
    SRMDS_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), static_cast<size_t>(src.numel()) * sizeof(T),
                                     cudaMemcpyDeviceToDevice, ctx.stream()));
  } else {
    SRMDS_CUDA_CHECK(cudaMemcpy2DAsync(dst.data(), static_cast<size_t>(dst.batch_stride()) * sizeof(T),
                                       src.data(), static_cast<size_t>(src.batch_stride()) * sizeof(T), width,
                                       static_cast<size_t>(detail::row_count(s)), cudaMemcpyDeviceToDevice,
                                       ctx.stream()));
  }
}
}  // namespace

void copy(Ctx& ctx, const TF& src, TF& dst) { copy_on_device(ctx, src, dst); }
void copy(Ctx& ctx, const Tensor<double, Cuda>& src, Tensor<double, Cuda>& dst) { copy_on_device(ctx, src, dst); }

// ---- axpy ------------------------------------------------------------------------------------
namespace {
using namespace detail;

struct AxpyKernel {
  float alpha;
  Rows<const float> x;
  Rows<float> y;
  __device__ void operator()(int64_t r, int64_t i) const { y.at(r, i) += alpha * x.at(r, i); }
};

void axpy_launch(float alpha, Rows<const float> x, Rows<float> y, Extent e, cudaStream_t stream) {
  launch_rows(AxpyKernel{alpha, x, y}, e, stream, "axpy");
}

}  // namespace

void axpy(Ctx& ctx, float alpha, const TF& x, TF& y) {
  axpy_launch(alpha, detail::rows_of(x), detail::rows_of(y), detail::row_extent(x.shape()), ctx.stream());
}

}  // namespace srmds::cuda
