// bce_dice kernels, one variant per ISA level (see include/srmds/cpu/bce_dice.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include <algorithm>
#include <vector>

#include "srmds/cpu/parallel.hpp"
#include "srmds/ops/math/sigmoid.hpp"
#include "srmds/ops/math/bce_dice.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace detail {
constexpr int64_t kLossChunk = 16384;

struct BceDiceSums {
  double bce = 0, inter = 0, psum = 0, ysum = 0;
};
}  // namespace detail

template <class T>
double bce_dice_loss(const Tensor<T, Cpu>& z,  // (N, 1, h, w) logits
                     const Tensor<T, Cpu>& y,  // (N, 1, h, w) targets in [0, 1]
                     double weight, double dice_weight, Tensor<T, Cpu>* dz, WriteMode mode) {
  using detail::kLossChunk;
  const int64_t n_samples = z.shape().n();
  const int64_t m = z.sample_numel();
  const int64_t chunks = (m + kLossChunk - 1) / kLossChunk;
  const int64_t tasks = n_samples * chunks;

  // Pass 1: partial sums per (sample, chunk).
  std::vector<detail::BceDiceSums> part(static_cast<size_t>(tasks));
  parallel_for(
      tasks,
      [&](int64_t task) {
        const int64_t n = task / chunks;
        const int64_t begin = (task % chunks) * kLossChunk, end = std::min(m, begin + kLossChunk);
        const T* zs = z.sample(n);
        const T* ys = y.sample(n);
        detail::BceDiceSums s;
        for (int64_t i = begin; i < end; ++i) {
          const double zi = static_cast<double>(zs[i]), yi = static_cast<double>(ys[i]);
          const double p = sigmoid_of(zi);
          s.bce += bce_with_logits(zi, yi);
          s.inter += p * yi;
          s.psum += p;
          s.ysum += yi;
        }
        part[static_cast<size_t>(task)] = s;
      },
      kLossChunk);

  // Fixed-order combination: per-sample Dice sums and the total BCE.
  std::vector<detail::BceDiceSums> per_sample(static_cast<size_t>(n_samples));
  double bce_total = 0;
  for (int64_t task = 0; task < tasks; ++task) {
    const auto& s = part[static_cast<size_t>(task)];
    auto& d = per_sample[static_cast<size_t>(task / chunks)];
    bce_total += s.bce;
    d.inter += s.inter;
    d.psum += s.psum;
    d.ysum += s.ysum;
  }
  double dice_total = 0;
  for (const auto& d : per_sample) dice_total += (2 * d.inter + kDiceSmooth) / (d.psum + d.ysum + kDiceSmooth);
  const double inv_nm = 1.0 / static_cast<double>(n_samples * m);
  const double inv_n = 1.0 / static_cast<double>(n_samples);
  const double loss = bce_dice_value(bce_total, dice_total, inv_nm, inv_n, dice_weight);

  // Pass 2: dz = weight dL/dz.
  if (dz) {
    parallel_for(
        tasks,
        [&](int64_t task) {
          const int64_t n = task / chunks;
          const int64_t begin = (task % chunks) * kLossChunk, end = std::min(m, begin + kLossChunk);
          const T* zs = z.sample(n);
          const T* ys = y.sample(n);
          T* ds = dz->sample(n);
          const auto& d = per_sample[static_cast<size_t>(n)];
          for (int64_t i = begin; i < end; ++i) {
            const double p = sigmoid_of(static_cast<double>(zs[i]));
            const double g =
                bce_dice_grad(p, static_cast<double>(ys[i]), d.inter, d.psum, d.ysum, inv_nm, inv_n, weight,
                              dice_weight);
            write(ds[i], static_cast<T>(g), mode);
          }
        },
        kLossChunk);
  }
  return loss;
}

SRMDS_CPU_INSTANTIATE(bce_dice_loss)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
