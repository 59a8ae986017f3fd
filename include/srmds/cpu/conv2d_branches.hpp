// CPU convolutions of one input with several kernels (the conv branches of an SRFV block: 3x3, 1x3,
// 3x1, 1x1; stride 1, same padding), forward, backward data (summed over the branches) and filter.
// See ops/conv2d_branches.hpp for the contract.
// Forward and filter gradient in float, when every branch has Cin and Cout of at least
// kWinogradMinCin, every image has at least kBranchesMinTiles 4x4 tiles and the stacked transformed
// kernels (100 Cout Cin values for all four branches, at most 36 per branch) fit
// kBranchesMaxStackBytes: one Winograd F(4x4, 3x3) pass shared by the branches
// (src/cpu/conv2d_branches.cpp: 1x3, 3x1, 1x1 as 3x3 kernels that are zero at 12, 12 and 20 of the
// 36 transformed positions; 100 instead of 256 multiply-accumulates per tile and unit of Cin Cout
// for all four). Otherwise, in double (which the finite-difference checks use) and for the backward
// data pass, the op runs each branch through conv2d_forward / conv2d_backward_data /
// conv2d_backward_filter (whose float 3x3 kernels take F(4x4) themselves, cpu/conv2d.hpp). On
// smaller images the transforms of the four branches cost more than they save (measured at
// 16 x 16: 1.3x the per-branch time).
// The kernels are compiled in the library for float and double, once per ISA level, and chosen at
// run time (cpu/isa.hpp; entry points in src/cpu/dispatch/entries.cpp).
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "srmds/core/tensor.hpp"
#include "srmds/cpu/conv2d_algo.hpp"
#include "srmds/cpu/conv2d_winograd.hpp"

namespace srmds::cpu {

// Images of fewer 4x4 tiles than this (ceil(H/4) ceil(W/4), e.g. below 32 x 32) take the per-branch
// path.
inline constexpr int64_t kBranchesMinTiles = 64;
// Largest stacked transformed weight (and, for the filter gradient, per-thread partial sum) in bytes.
inline constexpr int64_t kBranchesMaxStackBytes = int64_t(32) << 20;

// True where the shared Winograd pass is taken for these branch kernels on x of shape xs (the op
// takes it for the forward and, with contiguous gradients, the filter gradient): the choice of the
// list of cpu/conv2d_algo.hpp.
template <class T>
inline bool conv2d_branches_take_winograd(const Shape& xs, const std::vector<Shape>& kernels) {
  return !kernels.empty() && choose_conv_algo(ConvPass::BranchesForward,
                                              ConvProblem{xs, kernels, std::is_same_v<T, float>}) ==
                                 ConvAlgo::WinogradF4x4;
}

// The shared pass (src/cpu/conv2d_branches.cpp), where conv2d_branches_take_winograd says so; no
// shape checks (ops/conv2d_branches.hpp makes them).
template <class T>
void conv2d_branches_winograd_forward(const Tensor<T, Cpu>& x,                      // (N, Cin, H, W)
                                      const std::vector<const Tensor<T, Cpu>*>& w,  // (Cout, Cin, kh_b, kw_b) each
                                      const std::vector<Tensor<T, Cpu>*>& y);       // (N, Cout, H, W) each

// dw_b (+)= the filter gradient of branch b (its output gradient dy_b); every dw_b contiguous.
template <class T>
void conv2d_branches_winograd_backward_filter(const Tensor<T, Cpu>& x,                       // (N, Cin, H, W)
                                              const std::vector<const Tensor<T, Cpu>*>& dy,  // (N, Cout, H, W) each
                                              const std::vector<Tensor<T, Cpu>*>& dw,  // (Cout, Cin, kh_b, kw_b)
                                              bool accumulate);

}  // namespace srmds::cpu
