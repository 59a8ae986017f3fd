// Host <-> device copies (cuda/ops.hpp). Either side may be a strided channel view: a copy is one
// cudaMemcpy2DAsync of N rows of C*H*W elements with each side's batch stride as its pitch (one
// plain cudaMemcpyAsync when both are contiguous). Host memory is pageable: host-to-device returns
// once the source has been staged (the host tensor may be reused at once); device-to-host
// synchronizes the context's stream before returning.
#include "check.hpp"
#include "srmds/cuda/context.hpp"
#include "srmds/cuda/counters.hpp"
#include "srmds/cuda/ops.hpp"

namespace srmds::cuda {
namespace {

template <class T>
void copy_rows(Ctx& ctx, const T* src, int64_t src_stride, bool src_contiguous, T* dst, int64_t dst_stride,
               bool dst_contiguous, const Shape& s, cudaMemcpyKind kind) {
  if (s.numel() == 0) return;
  detail::count_copy();
  if (src_contiguous && dst_contiguous) {
    SRMDS_CUDA_CHECK(
        cudaMemcpyAsync(dst, src, static_cast<size_t>(s.numel()) * sizeof(T), kind, ctx.stream()));
    return;
  }
  const int64_t rows = s.rank() == 4 ? s.n() : 1;
  const int64_t len = s.rank() == 4 ? s.c() * s.h() * s.w() : s.numel();
  SRMDS_CUDA_CHECK(cudaMemcpy2DAsync(dst, static_cast<size_t>(dst_stride) * sizeof(T), src,
                                     static_cast<size_t>(src_stride) * sizeof(T), static_cast<size_t>(len) * sizeof(T),
                                     static_cast<size_t>(rows), kind, ctx.stream()));
}

template <class T>
void to_device(Ctx& ctx, const Tensor<T, Cpu>& src, Tensor<T, Cuda>& dst) {
  srmds::detail::check_same_shape("copy_host_to_device", "src", src, "dst", dst);
  copy_rows(ctx, src.data(), src.batch_stride(), src.is_contiguous(), dst.data(), dst.batch_stride(),
            dst.is_contiguous(), src.shape(), cudaMemcpyHostToDevice);
}

template <class T>
void to_host(Ctx& ctx, const Tensor<T, Cuda>& src, Tensor<T, Cpu>& dst) {
  srmds::detail::check_same_shape("copy_device_to_host", "src", src, "dst", dst);
  copy_rows(ctx, src.data(), src.batch_stride(), src.is_contiguous(), dst.data(), dst.batch_stride(),
            dst.is_contiguous(), src.shape(), cudaMemcpyDeviceToHost);
  ctx.synchronize();
}

}  // namespace

void copy_host_to_device(Ctx& ctx, const TH& src, TF& dst) { to_device(ctx, src, dst); }
void copy_device_to_host(Ctx& ctx, const TF& src, TH& dst) { to_host(ctx, src, dst); }
void copy_host_to_device(Ctx& ctx, const Tensor<int32_t, Cpu>& src, Tensor<int32_t, Cuda>& dst) {
  to_device(ctx, src, dst);
}
void copy_device_to_host(Ctx& ctx, const Tensor<int32_t, Cuda>& src, Tensor<int32_t, Cpu>& dst) {
  to_host(ctx, src, dst);
}
void copy_host_to_device(Ctx& ctx, const Tensor<int64_t, Cpu>& src, Tensor<int64_t, Cuda>& dst) {
  to_device(ctx, src, dst);
}
void copy_device_to_host(Ctx& ctx, const Tensor<int64_t, Cuda>& src, Tensor<int64_t, Cpu>& dst) {
  to_host(ctx, src, dst);
}
void copy_host_to_device(Ctx& ctx, const Tensor<double, Cpu>& src, Tensor<double, Cuda>& dst) {
  to_device(ctx, src, dst);
}
void copy_device_to_host(Ctx& ctx, const Tensor<double, Cuda>& src, Tensor<double, Cpu>& dst) {
  to_host(ctx, src, dst);
}

}  // namespace srmds::cuda
