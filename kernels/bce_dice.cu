// BCE + soft-Dice loss of one scale and its gradient (see ops/bce_dice.hpp), per-element terms
// from ops/math/bce_dice.hpp (bce_with_logits, bce_dice_grad, bce_dice_value) and
// ops/math/sigmoid.hpp (sigmoid_of), evaluated in double like the CPU backend. Loss and gradient
// in one op, three launches and no host wait:
//   pass 1 (one reduction): per sample n, bce_n = sum bce(z, y), I_n = sum p y, P_n = sum p, Y_n = sum y;
//   finalize (one block): per-sample sums to a small device array (fixed order, deterministic), then
//     one thread forms L = sum_n bce_n / (N M) + lambda (1 - (1 / N) sum_n (2 I_n + s) / (P_n + Y_n + s))
//     in sample order, as the CPU backend does, and writes it where the LossSink says (the value, and/or
//     a weighted running sum: the deep-supervision total, a slot of the trainer's per-step buffer);
//   pass 2: dz = weight dL/dz (written or added), when dz is wanted.
#include "common.cuh"
#include "srmds/ops/math/bce_dice.hpp"
#include "srmds/ops/math/sigmoid.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

// ---- pass 1: sums ------------------------------------------------------------------------------
struct LossTerm {  // row = sample n
  Rows<const float> z, y;
  __device__ void operator()(int64_t n, int64_t, int64_t i, double (&acc)[4]) const {
    const double zi = z.at(n, i), yi = y.at(n, i);
    const double p = sigmoid_of(zi);
    acc[0] += bce_with_logits(zi, yi);
    acc[1] += p * yi;
    acc[2] += p;
    acc[3] += yi;
  }
};

// sums[n * 4 + j] = total of quantity j (bce, I, P, Y) for sample n; then thread 0 forms L from the
// sums in sample order and stores it into the sink. One block: the threads share the samples.
struct LossValue {
  double inv_nm, inv_n, dice_weight;
  LossSink out;
};

__global__ void __launch_bounds__(kThreads, 1)
    loss_total_kernel(const double* partials, int64_t splits, int64_t samples, double* sums, LossValue v) {
  for (int64_t n = threadIdx.x; n < samples; n += blockDim.x)
    for (int j = 0; j < 4; ++j) sums[n * 4 + j] = total<4>(partials, splits, n, j);
  __syncthreads();  // every sample's sums written (global memory, one block)
  if (threadIdx.x != 0) return;
  double bce_total = 0, dice_total = 0;
  for (int64_t n = 0; n < samples; ++n) {
    const double* s = sums + n * 4;
    bce_total += s[0];
    dice_total += (2 * s[1] + kDiceSmooth) / (s[2] + s[3] + kDiceSmooth);
  }
  const double loss = bce_dice_value(bce_total, dice_total, v.inv_nm, v.inv_n, v.dice_weight);
  if (v.out.value) *v.out.value = loss;
  // rounded as the host rounds sum + w L (no fused multiply-add)
  if (v.out.sum) *v.out.sum = __dadd_rn(v.out.sum_accumulate ? *v.out.sum : 0.0, __dmul_rn(v.out.sum_weight, loss));
}

void loss_total_launch(const Partials& part, int64_t samples, double* sums, const LossValue& v, cudaStream_t stream) {
  loss_total_kernel<<<1, kThreads, 0, stream>>>(part.data, part.splits, samples, sums, v);
  check_launch("bce_dice_loss/finalize");
}

// ---- pass 2: gradient --------------------------------------------------------------------------
struct LossGradKernel {
  Rows<const float> z, y;
  Rows<float> dz;
  const double* sums;  // (N, 4)
  double inv_nm, inv_n, weight, dice_weight;
  bool accumulate;
  __device__ void operator()(int64_t n, int64_t i) const {
    const double p = sigmoid_of(double(z.at(n, i)));
    const double* s = sums + n * 4;
    const double g = bce_dice_grad(p, double(y.at(n, i)), s[1], s[2], s[3], inv_nm, inv_n, weight, dice_weight);
    write_out(dz.at(n, i), static_cast<float>(g), accumulate);
  }
};

void loss_grad_launch(const LossGradKernel& k, Extent e, cudaStream_t stream) {
  launch_rows(k, e, stream, "bce_dice_loss/grad");
}

}  // namespace

// ---- op ----------------------------------------------------------------------------------------
void bce_dice_loss(Ctx& ctx, const TF& z, const TF& y, double weight, double dice_weight, TF* dz, WriteMode mode,
                   const LossSink& out) {
  using namespace detail;
  const int64_t N = z.shape().n(), M = z.sample_numel();
  SRMDS_CHECK(N > 0 && M > 0, "bce_dice_loss: z " << z.shape() << " is empty");
  const Partials part = partial_sums<4>(ctx, N, 1, M, LossTerm{rows_of(z), rows_of(y)}, "bce_dice_loss/sums");
  Buffer sums_buf = ctx.allocate(static_cast<size_t>(N * 4) * sizeof(double));
  double* sums = static_cast<double*>(sums_buf.get());
  const double inv_nm = 1.0 / double(N * M), inv_n = 1.0 / double(N);
  loss_total_launch(part, N, sums, LossValue{inv_nm, inv_n, dice_weight, out}, ctx.stream());
  if (dz)
    loss_grad_launch(LossGradKernel{rows_of(z), rows_of(y), rows_of(*dz), sums, inv_nm, inv_n, weight,
                                    dice_weight, mode == WriteMode::Accumulate},
                     Extent{N, M}, ctx.stream());
}

}  // namespace srmds::cuda
