// confusion kernels, one variant per ISA level (see include/srmds/cpu/confusion.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "srmds/ops/math/confusion.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void confusion_counts(const Tensor<T, Cpu>& z,        // (N, 1, H, W) logits
                      const Tensor<T, Cpu>& mask,     // (N, 1, H, W)
                      Tensor<int64_t, Cpu>& counts) { // (N, 4)
  constexpr int64_t kChunk = 16384;
  const int64_t n_images = z.shape().n(), m = z.sample_numel();
  const int64_t chunks = std::max<int64_t>(1, (m + kChunk - 1) / kChunk);
  std::vector<std::array<int64_t, 4>> part(static_cast<size_t>(n_images * chunks));
  parallel_for(
      n_images * chunks,
      [&](int64_t task) {
        const int64_t n = task / chunks;
        const int64_t begin = (task % chunks) * kChunk, end = std::min(m, begin + kChunk);
        const T* zs = z.sample(n);
        const T* ms = mask.sample(n);
        std::array<int64_t, 4> c{0, 0, 0, 0};
        for (int64_t i = begin; i < end; ++i) ++c[static_cast<size_t>(confusion_cell(zs[i], ms[i]))];
        part[static_cast<size_t>(task)] = c;
      },
      kChunk);
  for (int64_t n = 0; n < n_images; ++n) {
    int64_t* row = counts.data() + 4 * n;
    for (int k = 0; k < 4; ++k) row[k] = 0;
    for (int64_t c = 0; c < chunks; ++c)
      for (int k = 0; k < 4; ++k) row[k] += part[static_cast<size_t>(n * chunks + c)][static_cast<size_t>(k)];
  }
}

SRMDS_CPU_INSTANTIATE(confusion_counts)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
