// SGE kernels, one variant per ISA level (see include/srmds/cpu/sge.hpp, src/cpu/variant.hpp).
#include "srmds/ops/math/sge.hpp"

#include <cmath>
#include <vector>

#include "srmds/cpu/parallel.hpp"
#include "variant.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

template <class T>
void sge_forward(const Tensor<T, Cpu>& x,                                              // (N, C, H, W)
                 const Tensor<T, Cpu>& weight, const Tensor<T, Cpu>& bias,             // (1, G, 1, 1) each
                 Tensor<T, Cpu>& y,                                                    // (N, C, H, W), may be x
                 Tensor<T, Cpu>& mean, Tensor<T, Cpu>& norm, Tensor<T, Cpu>& stdev) {  // (N, C), (N, G, H, W), (N, G)
  const Shape& sx = x.shape();
  const int64_t nn = sx.n(), c = sx.c(), hw = sx.h() * sx.w();
  const int64_t groups = weight.shape()[1], cg = c / groups;
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const T* p = x.sample(plane / c) + (plane % c) * hw;
        double acc = 0;
        for (int64_t i = 0; i < hw; ++i) acc += static_cast<double>(p[i]);
        mean[plane] = static_cast<T>(acc / static_cast<double>(hw));
      },
      hw);
  parallel_for(
      nn * groups,
      [&](int64_t ng) {
        const int64_t n = ng / groups, grp = ng % groups;
        std::vector<double> e(static_cast<size_t>(hw), 0.0);
        for (int64_t k = 0; k < cg; ++k) {
          const int64_t ch = grp * cg + k;
          const T* p = x.sample(n) + ch * hw;
          const double gm = static_cast<double>(mean[n * c + ch]);
          for (int64_t i = 0; i < hw; ++i) e[static_cast<size_t>(i)] += static_cast<double>(p[i]) * gm;
        }
        double s = 0;
        for (int64_t i = 0; i < hw; ++i) s += e[static_cast<size_t>(i)];
        const double mu = s / static_cast<double>(hw);
        double q = 0;
        for (int64_t i = 0; i < hw; ++i) {
          const double d = e[static_cast<size_t>(i)] - mu;
          q += d * d;
        }
        const double sd = std::sqrt(q / static_cast<double>(hw - 1));
        stdev[ng] = static_cast<T>(sd);
        T* nrm = norm.sample(n) + grp * hw;
        const double w = static_cast<double>(weight[grp]), b = static_cast<double>(bias[grp]);
        std::vector<T> gate(static_cast<size_t>(hw));
        for (int64_t i = 0; i < hw; ++i) {
          nrm[i] = static_cast<T>((e[static_cast<size_t>(i)] - mu) / (sd + kSgeEps));
          gate[static_cast<size_t>(i)] = static_cast<T>(sge_gate(static_cast<double>(nrm[i]), w, b));
        }
        for (int64_t k = 0; k < cg; ++k) {
          const int64_t ch = grp * cg + k;
          const T* p = x.sample(n) + ch * hw;
          T* q_out = y.sample(n) + ch * hw;
          for (int64_t i = 0; i < hw; ++i) q_out[i] = p[i] * gate[static_cast<size_t>(i)];
        }
      },
      cg * hw);
}

template <class T>
void sge_backward(const Tensor<T, Cpu>& x,                                   // (N, C, H, W) forward input
                  const Tensor<T, Cpu>& dy,                                  // (N, C, H, W)
                  const Tensor<T, Cpu>& weight, const Tensor<T, Cpu>& bias,  // (1, G, 1, 1)
                  const Tensor<T, Cpu>& mean, const Tensor<T, Cpu>& norm, const Tensor<T, Cpu>& stdev,
                  Tensor<T, Cpu>& dx, WriteMode dx_mode,  // (N, C, H, W)
                  Tensor<T, Cpu>& dweight, Tensor<T, Cpu>& dbias, WriteMode param_mode) {
  const Shape& sx = x.shape();
  const int64_t nn = sx.n(), c = sx.c(), hw = sx.h() * sx.w();
  const int64_t groups = weight.shape()[1], cg = c / groups;
  std::vector<double> s1(static_cast<size_t>(nn * groups)), s2(static_cast<size_t>(nn * groups));
  std::vector<T> gate(static_cast<size_t>(nn * groups * hw)), de(static_cast<size_t>(nn * groups * hw));
  parallel_for(
      nn * groups,
      [&](int64_t ng) {
        const int64_t n = ng / groups, grp = ng % groups;
        std::vector<double> dt(static_cast<size_t>(hw), 0.0);
        for (int64_t k = 0; k < cg; ++k) {
          const int64_t ch = grp * cg + k;
          const T* p = x.sample(n) + ch * hw;
          const T* g = dy.sample(n) + ch * hw;
          for (int64_t i = 0; i < hw; ++i)
            dt[static_cast<size_t>(i)] += static_cast<double>(g[i]) * static_cast<double>(p[i]);
        }
        const T* nrm = norm.sample(n) + grp * hw;
        const double w = static_cast<double>(weight[grp]), b = static_cast<double>(bias[grp]);
        T* gt = gate.data() + ng * hw;
        double a1 = 0, a2 = 0;
        for (int64_t i = 0; i < hw; ++i) {
          const double s = sge_gate(static_cast<double>(nrm[i]), w, b);
          gt[i] = static_cast<T>(s);
          double& d = dt[static_cast<size_t>(i)];
          d *= s * (1.0 - s);
          a1 += d;
          a2 += d * static_cast<double>(nrm[i]);
        }
        s1[static_cast<size_t>(ng)] = a1;
        s2[static_cast<size_t>(ng)] = a2;
        const double sigma = static_cast<double>(stdev[ng]);
        T* dg = de.data() + ng * hw;
        for (int64_t i = 0; i < hw; ++i)
          dg[i] = static_cast<T>(
              sge_energy_grad(dt[static_cast<size_t>(i)], static_cast<double>(nrm[i]), a1, a2, w, sigma, hw));
      },
      cg * hw);
  for (int64_t grp = 0; grp < groups; ++grp) {
    double gw = 0, gb = 0;
    for (int64_t n = 0; n < nn; ++n) {
      gw += s2[static_cast<size_t>(n * groups + grp)];
      gb += s1[static_cast<size_t>(n * groups + grp)];
    }
    write(dweight[grp], static_cast<T>(gw), param_mode);
    write(dbias[grp], static_cast<T>(gb), param_mode);
  }
  const bool acc = dx_mode == WriteMode::Accumulate;
  parallel_for(
      nn * c,
      [&](int64_t plane) {
        const int64_t n = plane / c, ch = plane % c, ng = n * groups + ch / cg;
        const T* p = x.sample(n) + ch * hw;
        const T* g = dy.sample(n) + ch * hw;
        const T* gt = gate.data() + ng * hw;
        const T* dg = de.data() + ng * hw;
        double dgc = 0;
        for (int64_t i = 0; i < hw; ++i) dgc += static_cast<double>(dg[i]) * static_cast<double>(p[i]);
        const double gm = static_cast<double>(mean[plane]), shift = dgc / static_cast<double>(hw);
        T* d = dx.sample(n) + ch * hw;
        for (int64_t i = 0; i < hw; ++i) {
          const T v = static_cast<T>(static_cast<double>(g[i]) * static_cast<double>(gt[i]) +
                                     static_cast<double>(dg[i]) * gm + shift);
          d[i] = acc ? d[i] + v : v;
        }
      },
      hw);
}

SRMDS_CPU_INSTANTIATE(sge_forward)
SRMDS_CPU_INSTANTIATE(sge_backward)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
