// downsample_target kernels, one variant per ISA level (see include/srmds/cpu/downsample_target.hpp, src/cpu/variant.hpp).
#include "variant.hpp"

#include "srmds/ops/math/downsample_target.hpp"
#include "srmds/core/device.hpp"
#include "srmds/core/macros.hpp"
#include "srmds/cpu/parallel.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void downsample_target(const Tensor<T, Cpu>& mask,  // (N, C, H, W)
                       Tensor<T, Cpu>& out,         // (N, C, H/f, W/f)
                       int factor, TargetMode mode) {
  const Shape& s = out.shape();
  const int w = static_cast<int>(mask.shape().w());
  const int64_t in_hw = mask.shape().h() * mask.shape().w(), out_hw = s.h() * s.w();
  parallel_for(
      s.n() * s.c(),
      [&](int64_t plane) {
        const int64_t n = plane / s.c(), c = plane % s.c();
        const T* mp = mask.sample(n) + c * in_hw;
        T* op = out.sample(n) + c * out_hw;
        for (int oy = 0; oy < static_cast<int>(s.h()); ++oy)
          for (int ox = 0; ox < static_cast<int>(s.w()); ++ox)
            op[oy * s.w() + ox] = downsample_target_at(mp, w, oy, ox, factor, mode);
      },
      in_hw);
}

SRMDS_CPU_INSTANTIATE(downsample_target)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
