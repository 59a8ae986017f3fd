// One Adam step over a parameter tensor (see optim/adam.hpp): each element runs adam_update()
// (ops/math/adam.hpp, shared with the CPU optimizer) on p, g, m, v in fp32. Parameters, gradients
// and moments are owning (contiguous) tensors. One thread per element.
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

}  // namespace

void adam_step(Ctx& ctx, TF& param, const TF& grad, TF& m, TF& v, const AdamStep& step) {
  SRMDS_CHECK(param.shape() == grad.shape() && param.shape() == m.shape() && param.shape() == v.shape(),
              "adam_step: param " << param.shape() << ", grad " << grad.shape() << ", m " << m.shape() << ", v "
                                  << v.shape() << " differ");
  SRMDS_CHECK(param.is_contiguous() && grad.is_contiguous() && m.is_contiguous() && v.is_contiguous(),
              "adam_step: param " << param.shape() << " and its gradient and moments must be contiguous");
  adam_launch(param.numel(), param.data(), grad.data(), m.data(), v.data(), step, ctx.stream());
}

}  // namespace srmds::cuda
