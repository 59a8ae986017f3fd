// STAND-IN, to be deleted when the CUDA backend's own cuda::se_relu_forward (kernels/, one fused
// pass) is merged: the same result from the two existing CUDA ops, SE (whose scaling pass is
// elementwise after the squeeze, so it may write in place) and then ReLU in place. It exists only
// so that a build with -DSRMDS_WITH_CUDA=ON links while the ops/se.hpp entry already dispatches to
// cuda::se_relu_forward. A second definition after the merge fails the link loudly.
#if SRMDS_WITH_CUDA

#include "srmds/cuda/ops.hpp"

namespace srmds::cuda {

void se_relu_forward(Ctx& ctx, const TF& x, const TF& w1, const TF& b1, const TF& w2, const TF& b2, TF& y,
                     TF& mean, TF& hidden, TF& scale) {
  se_forward(ctx, x, w1, b1, w2, b2, y, mean, hidden, scale);
  relu_forward(ctx, y, y);
}

}  // namespace srmds::cuda

#endif
