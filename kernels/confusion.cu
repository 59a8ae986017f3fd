// Per-image confusion counts (see metrics/confusion_counts.hpp): counts[n] = (TP, FP, TN, FN) of
// prediction z >= 0 against mask >= 0.5, each pixel classified by confusion_cell() from
// ops/math/confusion.hpp (shared with the CPU backend). One reduction pass: partial counts per
// (sample, split) block (exact in double up to 2^53 pixels), then a fixed-order sum into int64.
#include "common.cuh"
#include "srmds/ops/math/confusion.hpp"

namespace srmds::cuda {
namespace {
using namespace detail;

struct CountTerm {  // row = sample n
  Rows<const float> z, mask;
  __device__ void operator()(int64_t n, int64_t, int64_t i, double (&acc)[4]) const {
    const int cell = confusion_cell(z.at(n, i), mask.at(n, i));
    for (int j = 0; j < 4; ++j) acc[j] += cell == j ? 1.0 : 0.0;  // constant indices: acc stays in registers
  }
};

__global__ void __launch_bounds__(kThreads, 1)
    counts_kernel(const double* partials, int64_t splits, int64_t samples, int64_t* counts) {
  const int64_t n = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= samples) return;
  for (int j = 0; j < 4; ++j) counts[n * 4 + j] = static_cast<int64_t>(total<4>(partials, splits, n, j));
}

void counts_launch(const Partials& part, int64_t samples, int64_t* counts, cudaStream_t stream) {
  counts_kernel<<<blocks_for(samples), kThreads, 0, stream>>>(part.data, part.splits, samples, counts);
  check_launch("confusion_counts/finalize");
}

}  // namespace

void confusion_counts(Ctx& ctx, const TF& z, const TF& mask, Tensor<int64_t, Cuda>& counts) {
  const int64_t N = z.shape().n(), M = z.sample_numel();
  SRMDS_CHECK(counts.is_contiguous(), "confusion_counts: counts " << counts.shape() << " is a strided view");
  if (N == 0) return;
  const detail::Partials part = detail::partial_sums<4>(
      ctx, N, 1, M, CountTerm{detail::rows_of(z), detail::rows_of(mask)}, "confusion_counts/partials");
  counts_launch(part, N, counts.data(), ctx.stream());
}

}  // namespace srmds::cuda
