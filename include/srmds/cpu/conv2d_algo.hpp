// Which algorithm a CPU convolution runs: one ordered list per pass and precision, as oneDNN's
// cpu_convolution_list.cpp. Each entry says which problems it accepts; the first that accepts wins.
//
//   pass              float                                double
//   forward           winograd4 (a), im2col                winograd2 (b), im2col
//   backward data     winograd4 (a, on dy), im2col         im2col
//   backward filter   winograd4 (c), im2col                im2col
//   branches forward  winograd4 shared (d), branchwise     branchwise
//   branches filter   winograd4 shared (d, e), branchwise  branchwise
//   packed bf16       winograd2 (f), direct                -
//
//   (a) 3x3 kernel, at least kWinogradMinCin input channels, at least kWinogradMinTiles 4x4 tiles
//       in the batch (the per-call weight transform is amortised over the tiles: bench_conv2d
//       conv3x3_algo, batch 1 with 512 channels: F(4x4) 1.4x the im2col time at 16 x 16, 0.5x at
//       32 x 32). Backward data is the transposed convolution of dy, so "input" means dy's Cout.
//   (b) 3x3 kernel, at least kWinogradMinCin input channels, at least 64 x 64 pixels per image.
//   (c) 3x3 kernel, Cin and Cout at least kWinogradMinCin, kWinogradMinTiles tiles, and the 36 Cout
//       Cin transformed sums of a thread within kBranchesMaxStackBytes (one such sum per thread is
//       the cost).
//   (d) every branch with the same Cin and Cout of at least kWinogradMinCin, every image of at least
//       kBranchesMinTiles tiles, the stacked transformed kernels within kBranchesMaxStackBytes
//       (cpu/conv2d_branches.hpp: the four branches share one F(4x4) pass).
//   (e) and every dw_b contiguous (the caller's condition).
//   (f) at least kWinogradMinCin input channels: the fused blocks' bf16 convolution
//       (blocks/packed_conv3x3.hpp), chosen once when the weights are packed; the problem's input
//       is (1, Cin, 1, 1). Which instructions run it (AMX, AVX512_BF16, FMA) is the processor's
//       choice, not the list's (cpu/conv2d_winograd_bf16.hpp).
// "im2col" is the banded im2col GEMM (1x1 kernels without im2col), "branchwise" one convolution per
// branch (each through its own list), "direct" the bf16 direct 3x3 convolution (cpu/conv2d_bf16.hpp). Double keeps im2col for the gradients, which rounds least, for
// the finite-difference checks. Backward data of the branches is always branchwise.
//
// Forcing (tests, benchmarks): force_conv_algo(a), or SRMDS_CONV_ALGO=im2col|winograd2|winograd4|
// branchwise|direct read at the first choice, makes every list take `a` wherever `a` is in that list and can
// run the problem (winograd: 3x3 kernels; shared pass: the stacking bound), whatever the thresholds,
// and the list's last entry (the general one) everywhere else. ConvAlgo::Auto restores the lists.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "srmds/core/shape.hpp"

namespace srmds::cpu {

enum class ConvAlgo { Auto, Im2col, WinogradF2x2, WinogradF4x4, Branchwise, Direct };
enum class ConvPass { Forward, BackwardData, BackwardFilter, BranchesForward, BranchesFilter, PackedBf16 };

// What a pass computes: the shape of its input (x; dy for backward data, the input of the
// transposed convolution) and of every kernel as that input sees it ((Cout, Cin, kh, kw); for
// backward data (Cin, Cout, kh, kw), the transposed kernel), in float or double.
struct ConvProblem {
  Shape input;
  std::vector<Shape> kernels;  // one, or one per branch
  bool is_float = true;
};

// "auto", "im2col", "winograd2", "winograd4", "branchwise", "direct".
const char* conv_algo_name(ConvAlgo algo);
std::optional<ConvAlgo> parse_conv_algo(const std::string& name);

// The list of a pass and precision, in order of preference (is_float: float, else double; the
// packed bf16 pass has one list, float activations).
std::vector<ConvAlgo> conv_algo_list(ConvPass pass, bool is_float);

// Whether `algo` can compute the problem at all (winograd: 3x3 kernels; the shared pass: equal
// channels and the stacking bound), and whether the list would take it (its thresholds met too).
bool conv_algo_runs(ConvAlgo algo, ConvPass pass, const ConvProblem& p);
bool conv_algo_accepts(ConvAlgo algo, ConvPass pass, const ConvProblem& p);

// The algorithm the pass runs for the problem: the forced one where it applies, else the list's.
ConvAlgo choose_conv_algo(ConvPass pass, const ConvProblem& p);

// Forces `algo` (Auto: the lists decide). Not while convolutions run on other threads.
void force_conv_algo(ConvAlgo algo);
// The forced algorithm (SRMDS_CONV_ALGO on the first call; throws srmds::Error for an unknown name).
ConvAlgo forced_conv_algo();

}  // namespace srmds::cpu
