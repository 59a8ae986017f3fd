// Run-time choice of the CPU kernels' ISA variant (include/srmds/cpu/isa.hpp), and why the variants
// cannot leak into each other.
//
// What. Every kernel source src/cpu/<op>.cpp is compiled once per ISA level
// (cmake/SrmdsCpuKernels.cmake), each copy into its own namespace srmds::cpu::<isa>:
//   baseline  no -m flag (x86-64: SSE2)
//   avx2      -mavx2 -mfma
//   avx512    -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma
// (off x86 only baseline). A variant exports one function, srmds_cpu_kernels_<isa>(), which fills a
// table of pointers to its float and double kernels (src/cpu/kernel_table.hpp). The public entry
// points (include/srmds/cpu/*.hpp, defined in entries.cpp, compiled with the library's ordinary
// flags) call through the table chosen here, once, at the first kernel call: the best variant the
// processor supports (__builtin_cpu_supports, which also requires the OS to save the AVX / AVX-512
// registers), capped by SRMDS_CPU_ISA when set. This is the scheme of PyTorch ATen's DispatchStub
// (CPU_CAPABILITY, ATEN_CPU_CAPABILITY) and of oneDNN (cpu_isa, ONEDNN_MAX_CPU_ISA). So the
// installed package, a portable build and our own programs run the same kernels, whatever flags
// their own code is compiled with; the exported target carries no -march flag.
//
// The trap. Inline and template code (Eigen, std::vector<double>, our Tensor accessors, cpu::write,
// parallel_for) is emitted as a weak COMDAT copy in every object that uses it, and the linker keeps
// one copy per name. Compiled in an AVX-512 variant and in baseline code under the same name, the
// linker may keep the AVX-512 copy for every caller (an illegal instruction on an AVX2 machine) or
// the baseline copy for the AVX-512 kernels (slow). Defences, in three layers:
//  1. Distinct names: the kernels and their helpers live in srmds::cpu::<isa>, and Eigen is compiled
//     as namespace srmds_eigen_<isa> (-DEigen=srmds_eigen_<isa>; header names are not
//     macro-expanded, so <Eigen/Core> still resolves), so Eigen's instantiations share their names
//     with no other variant, no other library code and no consumer's own Eigen.
//  2. Hidden visibility (-fvisibility=hidden -fvisibility-inlines-hidden, and -fno-gnu-unique so
//     that static locals of inline functions are plain weak symbols): a shared object that embeds
//     libsrmds.a exports nothing of a variant.
//  3. One global symbol per variant: the variant's objects are combined with
//     `ld -r --force-group-allocation` (copies are merged within the variant, then the COMDAT groups
//     are dissolved) and `objcopy --keep-global-symbol=srmds_cpu_kernels_<isa>`, which makes every
//     other symbol the variant defines local. This covers what 1 and 2 do not: libstdc++ declares
//     namespace std with default visibility, so e.g. std::vector<double>::_M_realloc_insert stays
//     exported under -fvisibility=hidden, and srmds::Tensor's accessors have the same name in every
//     variant. After it, the linker can pick a variant's copy for nobody else, and each variant
//     calls only its own. tests/test_cpu_symbols.sh checks the archive: each variant object defines
//     exactly one global symbol, and no symbol anywhere in the library lives in namespace Eigen.
// Where the GNU ld and objcopy are not available (checked at configure time) layer 3 is skipped
// with a CMake warning, and layers 1 and 2 remain.
// Memory-bound fill / copy / axpy are compiled once (tensor_ops.cpp), not per variant.
#include "srmds/cpu/isa.hpp"

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>

#include "../kernel_table.hpp"
#include "srmds/core/error.hpp"

#ifndef SRMDS_CPU_X86_VARIANTS
#define SRMDS_CPU_X86_VARIANTS 0
#endif

namespace srmds::cpu {

namespace {

constexpr int kIsaCount = 3;

bool processor_supports(CpuIsa isa) {
#if SRMDS_CPU_X86_VARIANTS
  __builtin_cpu_init();
  switch (isa) {
    case CpuIsa::Baseline:
      return true;
    case CpuIsa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuIsa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == CpuIsa::Baseline;
#endif
}

// The tables of every variant this processor can run (the others stay empty).
struct Registry {
  detail::KernelTable tables[kIsaCount];
  bool available[kIsaCount] = {};

  Registry() {
    load(CpuIsa::Baseline, srmds_cpu_kernels_baseline);
#if SRMDS_CPU_X86_VARIANTS
    if (processor_supports(CpuIsa::Avx2)) load(CpuIsa::Avx2, srmds_cpu_kernels_avx2);
    if (processor_supports(CpuIsa::Avx512)) load(CpuIsa::Avx512, srmds_cpu_kernels_avx512);
#endif
  }

  // Fills the variant's table and refuses one with an empty slot (a build fault, not a user's).
  void load(CpuIsa isa, void (*fill)(detail::KernelTable*)) {
    const int i = static_cast<int>(isa);
    fill(&tables[i]);
    detail::check_kernel_table(tables[i], isa);
    available[i] = true;
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

std::mutex g_choose_mutex;
std::atomic<const detail::KernelTable*> g_active{nullptr};
CpuIsa g_active_isa = CpuIsa::Baseline;  // written under g_choose_mutex before g_active

// The best available variant, capped by SRMDS_CPU_ISA.
CpuIsa choose_isa() {
  int cap = kIsaCount - 1;
  const char* env = std::getenv("SRMDS_CPU_ISA");
  if (env && *env) {
    const std::optional<CpuIsa> isa = detail::parse_cpu_isa(env);
    SRMDS_CHECK(isa.has_value(), "SRMDS_CPU_ISA='" << env << "' is not one of baseline, avx2, avx512");
    cap = static_cast<int>(*isa);
  }
  for (int i = cap; i > 0; --i)
    if (registry().available[i]) return static_cast<CpuIsa>(i);
  return CpuIsa::Baseline;
}

const detail::KernelTable& active_table() {
  const detail::KernelTable* t = g_active.load(std::memory_order_acquire);
  if (t) return *t;
  std::lock_guard<std::mutex> lock(g_choose_mutex);
  t = g_active.load(std::memory_order_relaxed);
  if (!t) {
    g_active_isa = choose_isa();
    t = &registry().tables[static_cast<int>(g_active_isa)];
    g_active.store(t, std::memory_order_release);
  }
  return *t;
}

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Baseline:
      return "baseline";
    case CpuIsa::Avx2:
      return "avx2";
    case CpuIsa::Avx512:
      return "avx512";
  }
  return "unknown";
}

CpuIsa cpu_isa() {
  active_table();
  std::lock_guard<std::mutex> lock(g_choose_mutex);
  return g_active_isa;
}

bool cpu_isa_compiled(CpuIsa isa) { return isa == CpuIsa::Baseline || SRMDS_CPU_X86_VARIANTS; }

bool cpu_isa_available(CpuIsa isa) {
  const int i = static_cast<int>(isa);
  return i >= 0 && i < kIsaCount && registry().available[i];
}

std::vector<CpuIsa> available_cpu_isas() {
  std::vector<CpuIsa> out;
  for (int i = 0; i < kIsaCount; ++i)
    if (registry().available[i]) out.push_back(static_cast<CpuIsa>(i));
  return out;
}

namespace detail {

std::optional<CpuIsa> parse_cpu_isa(const std::string& name) {
  std::string lower;
  for (char ch : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (int i = 0; i < kIsaCount; ++i)
    if (lower == cpu_isa_name(static_cast<CpuIsa>(i))) return static_cast<CpuIsa>(i);
  return std::nullopt;
}

void set_cpu_isa(CpuIsa isa) {
  SRMDS_CHECK(cpu_isa_available(isa), "set_cpu_isa: the " << cpu_isa_name(isa)
                                                         << " CPU kernels are not available on this processor or build");
  std::lock_guard<std::mutex> lock(g_choose_mutex);
  g_active_isa = isa;
  g_active.store(&registry().tables[static_cast<int>(isa)], std::memory_order_release);
}

std::vector<std::string> missing_kernels(const KernelTable& table, CpuIsa isa) {
  std::vector<std::string> out;
#define SRMDS_CPU_MISSING(name, ...)                 \
  if (!table.f32.name) out.push_back("f32." #name); \
  if (!table.f64.name) out.push_back("f64." #name);
#define SRMDS_CPU_BF16_MISSING(name, lowest) \
  if (isa >= CpuIsa::lowest && !table.bf16.name) out.push_back("bf16." #name);
  SRMDS_CPU_KERNELS(SRMDS_CPU_MISSING)
  SRMDS_CPU_DETAIL_KERNELS(SRMDS_CPU_MISSING)
  SRMDS_CPU_BF16_KERNELS(SRMDS_CPU_BF16_MISSING)
#undef SRMDS_CPU_MISSING
#undef SRMDS_CPU_BF16_MISSING
  return out;
}

void check_kernel_table(const KernelTable& table, CpuIsa isa) {
  const std::vector<std::string> missing = missing_kernels(table, isa);
  if (missing.empty()) return;
  std::string names;
  for (const std::string& m : missing) names += (names.empty() ? "" : ", ") + m;
  SRMDS_THROW("the " << cpu_isa_name(isa) << " CPU kernels of this build leave " << missing.size()
                     << " kernel slot(s) empty: " << names << " (a build fault: see src/cpu/kernel_list.hpp)");
}

const KernelTable& kernel_table(CpuIsa isa) {
  SRMDS_CHECK(cpu_isa_available(isa), "kernel_table: the " << cpu_isa_name(isa) << " CPU kernels are not available");
  return registry().tables[static_cast<int>(isa)];
}

template <>
const Kernels<float>& active_kernels<float>() {
  return active_table().f32;
}
template <>
const Kernels<double>& active_kernels<double>() {
  return active_table().f64;
}
const Bf16Kernels& active_bf16_kernels() { return active_table().bf16; }

}  // namespace detail

}  // namespace srmds::cpu
