// Winograd F(4x4, 3x3) for the conv branches of an SRFV block: several kernels (3x3, 1x3, 3x1, 1x1;
// stride 1, same padding) on one input, forward and filter gradient, one variant per ISA level
// (src/cpu/variant.hpp; the entry points and when they are taken: cpu/conv2d_branches.hpp).
// A 1x3, 3x1 or 1x1 kernel is the 3x3 kernel g with its taps in the middle row and/or column and
// zeros elsewhere. Column 1 of G (include/srmds/cpu/conv2d_winograd.hpp) vanishes at the points 0
// and infinity, so U = G g G^T of such a kernel is zero in rows 0 and 5 (a one-tap kernel row) and
// in columns 0 and 5 (a one-tap column): a branch is "active" at 36, 24, 24 and 16 of the 36
// positions k = 6 i + j. Per 4x4 output tile and unit of Cin Cout, the four branches then cost 100
// multiply-accumulates instead of 256 for the direct convolutions, and share one transform of x.
// At each position the active branches are stacked (branch order, `slot`), so that one GEMM serves
// all of them:
//   forward    M_k (rows_k Cout, nt) = [U_b,k]_b (rows_k Cout, Cin) V_k (Cin, nt), then y_b = A^T M_b A
//   filter     P_k (rows_k Cout, Cin) += [A dy_b A^T]_k,b (rows_k Cout, nt) V_k (Cin, nt)^T over every
//              band, dW_b = G^T P_b G at the kernel's taps (winograd4_filter_output).
// The filter gradient's derivation: sum(dy . y) = sum_k (A dy A^T)_k (G g G^T)_k (B^T d B)_k per tile,
// so d/dg = G^T [(A dy A^T) . (B^T d B)] G, summed over tiles. Its bands are split statically between
// threads, each summing into its own P; the partial sums are added in thread order (reproducible for
// a thread count). Rounding is that of the forward F(4x4) (tests/test_conv2d_branches.cpp bounds it).
// (A shared pass for the backward data, sum_b of transposed convolutions, measured 5-8 % slower than
// one F(4x4) for the 3x3 and im2col GEMMs for the others: it needs one input transform per branch.)
#include "variant.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "band_loop.hpp"
#include "srmds/core/tensor.hpp"
#include "winograd4_common.hpp"

namespace srmds::cpu::SRMDS_CPU_ISA {

namespace detail {

template <class T>
using BranchRowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Which branch is active at which position, and where it sits in the position's stack.
struct BranchPlan {
  std::vector<std::array<int, 36>> slot;  // slot[b][k]: index in position k's stack, -1 if inactive
  std::array<int64_t, 36> rows{};         // branches active at k
  std::array<int64_t, 36> first{};       // stack entries before position k (sum of rows)
  int64_t total = 0;                      // stack entries over all positions

  // w: the branches' kernels (or their gradients), pointers to (Cout, Cin, kh_b, kw_b) tensors.
  template <class Ptr>
  explicit BranchPlan(const std::vector<Ptr>& w) : slot(w.size()) {
    for (int k = 0; k < 36; ++k) {
      const int i = k / 6, j = k % 6;
      first[static_cast<size_t>(k)] = total;
      for (size_t b = 0; b < w.size(); ++b) {
        const bool row_ok = w[b]->shape()[2] == 3 || (i >= 1 && i <= 4);
        const bool col_ok = w[b]->shape()[3] == 3 || (j >= 1 && j <= 4);
        slot[b][static_cast<size_t>(k)] = row_ok && col_ok ? static_cast<int>(rows[static_cast<size_t>(k)]++) : -1;
      }
      total += rows[static_cast<size_t>(k)];
    }
  }
};

// w (Cout, Cin, kh, kw) centred in a 3x3 kernel.
template <class T>
Tensor<T, Cpu> embed3x3(const Tensor<T, Cpu>& w) {
  const Shape& s = w.shape();
  const int64_t cout = s[0], cin = s[1], kh = s[2], kw = s[3], ph = (3 - kh) / 2, pw = (3 - kw) / 2;
  Tensor<T, Cpu> e(Shape{cout, cin, 3, 3});  // zeroed
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t p = 0; p < kh; ++p)
        for (int64_t q = 0; q < kw; ++q)
          e.sample(o)[(c * 3 + p + ph) * 3 + q + pw] = w.sample(o)[(c * kh + p) * kw + q];
  return e;
}

// The stacked transformed kernels: position k holds (rows_k Cout, Cin) at u + first_k Cout Cin
// (branch slot s in rows [s Cout, (s + 1) Cout)).
template <class T>
Buffer stacked_weights(const std::vector<const Tensor<T, Cpu>*>& w, const BranchPlan& plan) {
  const int64_t cout = w[0]->shape()[0], cin = w[0]->shape()[1], plane = cout * cin;
  Buffer out = host_buffer(static_cast<size_t>(plan.total * plane) * sizeof(T));
  Buffer full = host_buffer(static_cast<size_t>(36 * plane) * sizeof(T));
  T* u = static_cast<T*>(out.get());
  T* uf = static_cast<T*>(full.get());  // (36, Cout, Cin)
  for (size_t b = 0; b < w.size(); ++b) {
    winograd4_weights(embed3x3(*w[b]), 0, cin, uf);
    for (int k = 0; k < 36; ++k) {
      const int s = plan.slot[b][static_cast<size_t>(k)];
      if (s >= 0) std::copy(uf + k * plane, uf + (k + 1) * plane, u + (plan.first[static_cast<size_t>(k)] + s) * plane);
    }
  }
  return out;
}

// Positions of branch b in a stack laid out as (total, C, nt) at base (position k, slot s at
// base + (first_k + s) C nt); inactive positions go to `spare` with ld 0.
template <class T>
Winograd4Pos<T> branch_positions(const BranchPlan& plan, size_t b, T* base, int64_t C, int64_t nt, T* spare) {
  Winograd4Pos<T> p;
  for (int k = 0; k < 36; ++k) {
    const int s = plan.slot[b][static_cast<size_t>(k)];
    p.pos[k] = s < 0 ? spare : base + (plan.first[static_cast<size_t>(k)] + s) * C * nt;
    p.ld[k] = s < 0 ? 0 : nt;
  }
  return p;
}

// dw (Cout, Cin, kh, kw) (+)= G^T P G at the kernel's taps (rows p + (3 - kh)/2, columns
// q + (3 - kw)/2 of the 3x3 result), in double, for branch b of the stacked sums p_all.
template <class T>
void winograd4_filter_output(const BranchPlan& plan, size_t b, const T* p_all, int64_t plane, int kh, int kw,
                             T* dw, bool accumulate) {
  constexpr double G[6][3] = {{0.25, 0, 0},
                              {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                              {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                              {1.0 / 24, 1.0 / 12, 1.0 / 6},
                              {1.0 / 24, -1.0 / 12, 1.0 / 6},
                              {0, 0, 1}};
  const int ph = (3 - kh) / 2, pw = (3 - kw) / 2, taps = kh * kw;
  const T* pk[36];
  for (int k = 0; k < 36; ++k) {
    const int s = plan.slot[b][static_cast<size_t>(k)];
    pk[k] = s < 0 ? nullptr : p_all + (plan.first[static_cast<size_t>(k)] + s) * plane;
  }
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (plane + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (plane > 4096)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t b0 = blk * kBlock, len = std::min(kBlock, plane - b0);
    double t[6][3][kBlock] = {};  // P G at the kernel's columns: position row i, kernel column q
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        if (!pk[i * 6 + j]) continue;
        const T* src = pk[i * 6 + j] + b0;
        for (int q = 0; q < kw; ++q) {
          const double g = G[j][q + pw];
          if (g == 0) continue;
#pragma omp simd
          for (int64_t l = 0; l < len; ++l) t[i][q][l] += g * static_cast<double>(src[l]);
        }
      }
    for (int64_t l = 0; l < len; ++l) {
      T* d = dw + (b0 + l) * taps;
      for (int p = 0; p < kh; ++p)
        for (int q = 0; q < kw; ++q) {
          double v = 0;
          for (int i = 0; i < 6; ++i) v += G[i][p + ph] * t[i][q][l];
          d[p * kw + q] = accumulate ? d[p * kw + q] + static_cast<T>(v) : static_cast<T>(v);
        }
    }
  }
}

}  // namespace detail

template <class T>
void conv2d_branches_winograd_forward(const Tensor<T, Cpu>& x,                      // (N, Cin, H, W)
                                      const std::vector<const Tensor<T, Cpu>*>& w,  // (Cout, Cin, kh_b, kw_b)
                                      const std::vector<Tensor<T, Cpu>*>& y) {      // (N, Cout, H, W) each
  using RowMat = detail::BranchRowMat<T>;
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = w[0]->shape()[0];
  const int64_t th = (H + 3) / 4, tw = (W + 3) / 4;
  const detail::BranchPlan plan(w);
  const Buffer ubuf = detail::stacked_weights(w, plan);
  const T* u = static_cast<const T*>(ubuf.get());
  const detail::Winograd4Bands bands(N, th, tw, detail::conv_max_threads());
  const int64_t mt = bands.max_tiles;
  const int64_t per_thread = (36 * Cin + plan.total * Cout + 1) * mt + detail::winograd4_work(tw, mt);
  detail::ThreadScratch<T> scratch(bands.threads, per_thread);
  detail::for_each_band(bands.units, bands.threads, scratch.get(0), per_thread, [&](int64_t unit, T* v) {
    const int64_t nt = bands.tiles(unit);  // v: (36, Cin, nt)
    T* m = v + 36 * Cin * mt;              // (total, Cout, nt)
    T* zero = m + plan.total * Cout * mt;
    T* work = zero + mt;
    std::fill(zero, zero + nt, T(0));
    detail::winograd4_input_unit(bands, unit, x, detail::Winograd4Pos<T>::contiguous(v, Cin, nt), work);
    for (int k = 0; k < 36; ++k) {
      const int64_t rows = plan.rows[static_cast<size_t>(k)] * Cout;
      if (rows == 0) continue;
      const int64_t f = plan.first[static_cast<size_t>(k)];
      Eigen::Map<RowMat>(m + f * Cout * nt, rows, nt).noalias() =
          Eigen::Map<const RowMat>(u + f * Cout * Cin, rows, Cin) * Eigen::Map<const RowMat>(v + k * Cin * nt, Cin, nt);
    }
    for (size_t b = 0; b < w.size(); ++b)
      detail::winograd4_output_unit(bands, unit, detail::branch_positions<const T>(plan, b, m, Cout, nt, zero),
                                    static_cast<const T*>(nullptr), *y[b], false, work);
  });
}

template <class T>
void conv2d_branches_winograd_backward_filter(const Tensor<T, Cpu>& x,                       // (N, Cin, H, W)
                                              const std::vector<const Tensor<T, Cpu>*>& dy,  // (N, Cout, H, W) each
                                              const std::vector<Tensor<T, Cpu>*>& dw,  // (Cout, Cin, kh_b, kw_b)
                                              bool accumulate) {
  using RowMat = detail::BranchRowMat<T>;
  const Shape& xs = x.shape();
  const int64_t N = xs.n(), Cin = xs.c(), H = xs.h(), W = xs.w(), Cout = dw[0]->shape()[0];
  const int64_t th = (H + 3) / 4, tw = (W + 3) / 4, plane = Cout * Cin;
  const detail::BranchPlan plan(dw);
  const detail::Winograd4Bands bands(N, th, tw, detail::conv_max_threads());
  const int64_t mt = bands.max_tiles, psize = plan.total * plane;
  const int64_t per_thread = (36 * Cin + plan.total * Cout + 1) * mt + detail::winograd4_work(tw, mt);
  detail::ThreadScratch<T> scratch(bands.threads, per_thread);
  Buffer sums = host_buffer(static_cast<size_t>(psize) * sizeof(T));  // P, summed over the threads
  T* p_all = static_cast<T*>(sums.get());
  std::fill(p_all, p_all + psize, T(0));
  auto sum_band = [&](int64_t unit, T* v, T* p) {
    const int64_t nt = bands.tiles(unit);  // v: (36, Cin, nt)
    T* g = v + 36 * Cin * mt;              // (total, Cout, nt): the stacked A dy_b A^T
    T* sink = g + plan.total * Cout * mt;
    T* work = sink + mt;
    detail::winograd4_input_unit(bands, unit, x, detail::Winograd4Pos<T>::contiguous(v, Cin, nt), work);
    for (size_t b = 0; b < dy.size(); ++b)
      detail::winograd4_grad_input_unit(bands, unit, *dy[b], detail::branch_positions<T>(plan, b, g, Cout, nt, sink),
                                        work);
    for (int k = 0; k < 36; ++k) {
      const int64_t rows = plan.rows[static_cast<size_t>(k)] * Cout;
      if (rows == 0) continue;
      const int64_t f = plan.first[static_cast<size_t>(k)];
      Eigen::Map<RowMat>(p + f * plane, rows, Cin).noalias() +=
          Eigen::Map<const RowMat>(g + f * Cout * nt, rows, nt) *
          Eigen::Map<const RowMat>(v + k * Cin * nt, Cin, nt).transpose();
    }
  };
  detail::sum_over_bands(bands.units, bands.threads, scratch.get(0), per_thread, psize, p_all, sum_band);
  for (size_t b = 0; b < dw.size(); ++b) {
    const Shape& ws = dw[b]->shape();
    detail::winograd4_filter_output(plan, b, p_all, plane, static_cast<int>(ws[2]), static_cast<int>(ws[3]),
                                    dw[b]->data(), accumulate);
  }
}

SRMDS_CPU_INSTANTIATE(conv2d_branches_winograd_forward)
SRMDS_CPU_INSTANTIATE(conv2d_branches_winograd_backward_filter)

}  // namespace srmds::cpu::SRMDS_CPU_ISA
