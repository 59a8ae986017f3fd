// The ordered lists of CPU convolution algorithms (include/srmds/cpu/conv2d_algo.hpp). Compiled once,
// with the library's ordinary flags: the entry points choose here and call the variant's kernel for
// the chosen algorithm.
#include "srmds/cpu/conv2d_algo.hpp"

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "srmds/core/error.hpp"
#include "srmds/cpu/conv2d_branches.hpp"
#include "srmds/cpu/conv2d_winograd.hpp"

namespace srmds::cpu {

namespace {

constexpr std::pair<ConvAlgo, const char*> kNames[] = {
    {ConvAlgo::Auto, "auto"},           {ConvAlgo::Im2col, "im2col"},
    {ConvAlgo::WinogradF2x2, "winograd2"}, {ConvAlgo::WinogradF4x4, "winograd4"},
    {ConvAlgo::Branchwise, "branchwise"}, {ConvAlgo::Direct, "direct"}};

int64_t tiles4(const Shape& s) { return ((s.h() + 3) / 4) * ((s.w() + 3) / 4); }

bool is3x3(const Shape& k) { return k[2] == 3 && k[3] == 3; }

// The stacked transformed kernels of the shared F(4x4) pass (36, 24, 24, 16 (Cout, Cin) planes for
// 3x3, 1x3, 3x1, 1x1) within kBranchesMaxStackBytes, every kernel with the same Cout and Cin.
bool branches_stack_fits(const ConvProblem& p) {
  const int64_t cout = p.kernels[0][0], cin = p.kernels[0][1];
  int64_t positions = 0;
  for (const Shape& k : p.kernels) {
    if (k[0] != cout || k[1] != cin) return false;
    positions += (k[2] == 3 ? 6 : 4) * (k[3] == 3 ? 6 : 4);
  }
  return positions * cout * cin * static_cast<int64_t>(sizeof(float)) <= kBranchesMaxStackBytes;
}

// The thresholds of conv2d_algo.hpp's notes (a)-(d), for an algorithm that runs the problem.
bool thresholds_met(ConvAlgo algo, ConvPass pass, const ConvProblem& p) {
  const Shape& x = p.input;
  const Shape& k = p.kernels[0];
  switch (algo) {
    case ConvAlgo::WinogradF2x2:
      return x.c() >= kWinogradMinCin && (pass == ConvPass::PackedBf16 || x.h() * x.w() >= 64 * 64);
    case ConvAlgo::WinogradF4x4:
      if (pass == ConvPass::BranchesForward || pass == ConvPass::BranchesFilter)
        return k[0] >= kWinogradMinCin && k[1] >= kWinogradMinCin && tiles4(x) >= kBranchesMinTiles;
      if (pass == ConvPass::BackwardFilter && k[0] < kWinogradMinCin) return false;
      return x.c() >= kWinogradMinCin && x.n() * tiles4(x) >= kWinogradMinTiles;
    default:
      return true;
  }
}

std::mutex g_force_mutex;
std::atomic<bool> g_force_read{false};
std::atomic<ConvAlgo> g_forced{ConvAlgo::Auto};

}  // namespace

const char* conv_algo_name(ConvAlgo algo) {
  for (const auto& [a, name] : kNames)
    if (a == algo) return name;
  return "unknown";
}

std::optional<ConvAlgo> parse_conv_algo(const std::string& name) {
  std::string lower;
  for (char ch : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const auto& [a, algo_name] : kNames)
    if (lower == algo_name) return a;
  return std::nullopt;
}

std::vector<ConvAlgo> conv_algo_list(ConvPass pass, bool is_float) {
  switch (pass) {
    case ConvPass::Forward:
      return {is_float ? ConvAlgo::WinogradF4x4 : ConvAlgo::WinogradF2x2, ConvAlgo::Im2col};
    case ConvPass::BackwardData:
    case ConvPass::BackwardFilter:
      if (is_float) return {ConvAlgo::WinogradF4x4, ConvAlgo::Im2col};
      return {ConvAlgo::Im2col};
    case ConvPass::BranchesForward:
    case ConvPass::BranchesFilter:
      if (is_float) return {ConvAlgo::WinogradF4x4, ConvAlgo::Branchwise};
      return {ConvAlgo::Branchwise};
    case ConvPass::PackedBf16:
      return {ConvAlgo::WinogradF2x2, ConvAlgo::Direct};
  }
  SRMDS_THROW("conv_algo_list: invalid pass " << static_cast<int>(pass));
}

bool conv_algo_runs(ConvAlgo algo, ConvPass pass, const ConvProblem& p) {
  SRMDS_CHECK(p.input.rank() == 4 && !p.kernels.empty(), "conv_algo_runs: a problem needs a rank-4 input and a kernel");
  const bool branches = pass == ConvPass::BranchesForward || pass == ConvPass::BranchesFilter;
  switch (algo) {
    case ConvAlgo::Im2col:
      return !branches && pass != ConvPass::PackedBf16;
    case ConvAlgo::Branchwise:
      return branches;
    case ConvAlgo::Direct:
      return pass == ConvPass::PackedBf16 && is3x3(p.kernels[0]);
    case ConvAlgo::WinogradF2x2:
      return !branches && is3x3(p.kernels[0]);
    case ConvAlgo::WinogradF4x4:
      if (branches) return branches_stack_fits(p);
      if (!is3x3(p.kernels[0])) return false;
      return pass != ConvPass::BackwardFilter ||
             36 * p.kernels[0][0] * p.kernels[0][1] * static_cast<int64_t>(sizeof(float)) <= kBranchesMaxStackBytes;
    case ConvAlgo::Auto:
      return false;
  }
  return false;
}

bool conv_algo_accepts(ConvAlgo algo, ConvPass pass, const ConvProblem& p) {
  return conv_algo_runs(algo, pass, p) && thresholds_met(algo, pass, p);
}

ConvAlgo choose_conv_algo(ConvPass pass, const ConvProblem& p) {
  const std::vector<ConvAlgo> list = conv_algo_list(pass, p.is_float);
  const ConvAlgo forced = forced_conv_algo();
  if (forced != ConvAlgo::Auto) {
    for (ConvAlgo a : list)
      if (a == forced && conv_algo_runs(a, pass, p)) return a;
    return list.back();
  }
  for (ConvAlgo a : list)
    if (conv_algo_accepts(a, pass, p)) return a;
  return list.back();
}

void force_conv_algo(ConvAlgo algo) {
  std::lock_guard<std::mutex> lock(g_force_mutex);
  g_forced.store(algo);
  g_force_read.store(true, std::memory_order_release);
}

ConvAlgo forced_conv_algo() {
  if (!g_force_read.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(g_force_mutex);
    if (!g_force_read.load()) {
      const char* env = std::getenv("SRMDS_CONV_ALGO");
      if (env && *env) {
        const std::optional<ConvAlgo> a = parse_conv_algo(env);
        SRMDS_CHECK(a.has_value(), "SRMDS_CONV_ALGO='" << env << "' is not one of auto, im2col, winograd2, winograd4, "
                                                      "branchwise, direct");
        g_forced.store(*a);
      }
      g_force_read.store(true, std::memory_order_release);
    }
  }
  return g_forced.load(std::memory_order_relaxed);
}

}  // namespace srmds::cpu
