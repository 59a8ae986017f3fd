// Which compiled variant of the CPU kernels runs. The library holds every CPU kernel (cpu/*.hpp)
// compiled once per ISA level (baseline x86-64, AVX2 + FMA, AVX-512; only baseline off x86) and
// picks one at the first kernel call: the best the processor supports, capped by the environment
// variable SRMDS_CPU_ISA=baseline|avx2|avx512 when it is set (as oneDNN's ONEDNN_MAX_CPU_ISA: a
// cap above what the processor supports picks the best below it; an unknown value throws
// srmds::Error). How and why: src/cpu/dispatch/isa.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace srmds::cpu {

enum class CpuIsa { Baseline, Avx2, Avx512 };

// "baseline", "avx2", "avx512".
const char* cpu_isa_name(CpuIsa isa);

// The variant the kernels run (chosen at the first call).
CpuIsa cpu_isa();

// Whether that variant is compiled in (all three on x86-64 unless SRMDS_CPU_BASELINE_ONLY).
bool cpu_isa_compiled(CpuIsa isa);

// Whether that variant is compiled in and this processor (and its OS) supports it.
bool cpu_isa_available(CpuIsa isa);

// Every available variant, lowest first.
std::vector<CpuIsa> available_cpu_isas();

namespace detail {

// "baseline", "avx2" or "avx512" (any case) -> the ISA; anything else -> nullopt.
std::optional<CpuIsa> parse_cpu_isa(const std::string& name);

// For tests and benchmarks: run the kernels of `isa` from now on (throws srmds::Error if it is not
// available). Not while kernels run on other threads.
void set_cpu_isa(CpuIsa isa);

}  // namespace detail

}  // namespace srmds::cpu
