// One Adam step over a parameter tensor (see optim/adam.hpp): each element runs adam_update()
// (ops/math/adam.hpp, shared with the CPU optimizer) on p, g, m, v in fp32. Parameters, gradients
// and moments are owning (contiguous) tensors. One thread per element. adam_step_all: the same over
// a list of tensors, up to kAdamTensorsPerLaunch of them per launch (multi-tensor apply); with
// `scalars` the lr and bias corrections come from device memory (set_step_scalars), so a captured
// launch (CUDA Graph) takes each replay's values from a copy queued before it. The update itself is
// the same adam_update on the same doubles either way.
#include "common.cuh"
#include "srmds/ops/math/adam.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

__global__ void __launch_bounds__(kThreads, 1)
    adam_kernel(int64_t count, float* param, const float* grad, float* m, float* v, AdamStep step) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    adam_update(param[i], grad[i], m[i], v[i], step);
}

void adam_launch(int64_t count, float* param, const float* grad, float* m, float* v, const AdamStep& step,
                 cudaStream_t stream) {
  if (count <= 0) return;
  adam_kernel<<<dim3_of(grid_for(Extent{1, count})), kThreads, 0, stream>>>(count, param, grad, m, v, step);
  check_launch("adam_step");
}

// Up to kAdamTensorsPerLaunch tensors in one launch, passed by value in the kernel's parameters
// (about 2 KB, under the 4 KB every architecture takes): tensor j holds elements
// [start[j], start[j + 1]) of the launch's range; a thread finds its tensor by binary search.
struct AdamBatch {
  int count = 0;
  int64_t start[kAdamTensorsPerLaunch + 1] = {};
  float* param[kAdamTensorsPerLaunch] = {};
  const float* grad[kAdamTensorsPerLaunch] = {};
  float* m[kAdamTensorsPerLaunch] = {};
  float* v[kAdamTensorsPerLaunch] = {};
};
static_assert(sizeof(AdamBatch) + sizeof(AdamStep) + sizeof(double*) < 4000,
              "adam_multi_scalars_kernel's parameters exceed 4 KB");

// The update of every element of the batch's tensors with `step`'s constants.
__device__ __forceinline__ void adam_multi_apply(const AdamBatch& b, const AdamStep& step) {
  const int64_t total = b.start[b.count];
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int lo = 0, hi = b.count - 1;  // the last j with start[j] <= i
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (b.start[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    const int64_t k = i - b.start[lo];
    adam_update(b.param[lo][k], b.grad[lo][k], b.m[lo][k], b.v[lo][k], step);
  }
}

__global__ void __launch_bounds__(kThreads, 1) adam_multi_kernel(const AdamBatch b, const AdamStep step) {
  adam_multi_apply(b, step);
}

// The same with lr and the bias corrections read from device memory (kAdamDeviceScalars doubles).
__global__ void __launch_bounds__(kThreads, 1)
    adam_multi_scalars_kernel(const AdamBatch b, const AdamStep step, const double* __restrict__ scalars) {
  AdamStep s = step;
  set_step_scalars(s, scalars);
  adam_multi_apply(b, s);
}

void adam_multi_launch(const AdamBatch& b, const AdamStep& step, const double* scalars, cudaStream_t stream) {
  const int64_t total = b.start[b.count];
  if (total <= 0) return;
  if (scalars)
    adam_multi_scalars_kernel<<<dim3_of(grid_for(Extent{1, total})), kThreads, 0, stream>>>(b, step, scalars);
  else
    adam_multi_kernel<<<dim3_of(grid_for(Extent{1, total})), kThreads, 0, stream>>>(b, step);
  check_launch("adam_step_all");
}

}  // namespace

void adam_step_all(Ctx& ctx, const std::vector<AdamTensors>& list, const AdamStep& step, const double* scalars) {
  for (size_t i = 0; i < list.size(); ++i) {  // all checked before anything is updated
    const AdamTensors& t = list[i];
    SRMDS_CHECK(t.param->is_contiguous() && t.grad->is_contiguous() && t.m->is_contiguous() && t.v->is_contiguous(),
                "adam_step_all: tensor " << i << " (" << t.param->shape()
                                         << ") and its gradient and moments must be contiguous");
  }
  AdamBatch b;
  for (const AdamTensors& t : list) {
    if (t.param->numel() == 0) continue;
    b.param[b.count] = t.param->data();
    b.grad[b.count] = t.grad->data();
    b.m[b.count] = t.m->data();
    b.v[b.count] = t.v->data();
    b.start[b.count + 1] = b.start[b.count] + t.param->numel();
    if (++b.count == kAdamTensorsPerLaunch) {
      adam_multi_launch(b, step, scalars, ctx.stream());
      b = AdamBatch();
    }
  }
  if (b.count > 0) adam_multi_launch(b, step, scalars, ctx.stream());
}

void adam_step(Ctx& ctx, TF& param, const TF& grad, TF& m, TF& v, const AdamStep& step) {
  SRMDS_CHECK(param.shape() == grad.shape() && param.shape() == m.shape() && param.shape() == v.shape(),
              "adam_step: param " << param.shape() << ", grad " << grad.shape() << ", m " << m.shape() << ", v "
                                  << v.shape() << " differ");
  SRMDS_CHECK(param.is_contiguous() && grad.is_contiguous() && m.is_contiguous() && v.is_contiguous(),
              "adam_step: param " << param.shape() << " and its gradient and moments must be contiguous");
  adam_launch(param.numel(), param.data(), grad.data(), m.data(), v.data(), step, ctx.stream());
}

}  // namespace srmds::cuda
