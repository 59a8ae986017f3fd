// KernelTable: the addresses of one ISA variant's CPU kernels, for float and double. Each member has
// the type of the public entry point of the same name (include/srmds/cpu/*.hpp), so a kernel whose
// signature drifts from its declaration does not compile. Shared by the variants (src/cpu/*.cpp,
// which fill it) and the dispatcher (src/cpu/dispatch/, which calls through it); it holds function
// pointers only, no code. See src/cpu/dispatch/isa.cpp for the scheme.
// The slots come from kernel_list.hpp, which says how to add an op.
#pragma once

#include "srmds/cpu/adam.hpp"
#include "srmds/cpu/batchnorm.hpp"
#include "srmds/cpu/bce_dice.hpp"
#include "srmds/cpu/cbam.hpp"
#include "srmds/cpu/confusion.hpp"
#include "srmds/cpu/conv2d.hpp"
#include "srmds/cpu/conv2d_bf16.hpp"
#include "srmds/cpu/conv2d_branches.hpp"
#include "srmds/cpu/conv2d_winograd.hpp"
#include "srmds/cpu/conv2d_winograd_bf16.hpp"
#include "srmds/cpu/downsample_target.hpp"
#include "srmds/cpu/isa.hpp"
#include "srmds/cpu/maxpool.hpp"
#include "srmds/cpu/psa.hpp"
#include "srmds/cpu/relu.hpp"
#include "srmds/cpu/se.hpp"
#include "srmds/cpu/se_relu.hpp"
#include "srmds/cpu/sge.hpp"
#include "srmds/cpu/sigmoid.hpp"
#include "srmds/cpu/upsample.hpp"

#include <string>
#include <vector>

#include "kernel_list.hpp"

namespace srmds::cpu::detail {

// X-macro helpers of kernel_list.hpp's lists.
#define SRMDS_CPU_SLOT(name, ...) decltype(&cpu::name<T>) name = nullptr;
#define SRMDS_CPU_DETAIL_SLOT(name, ...) decltype(&cpu::detail::name<T>) name = nullptr;
#define SRMDS_CPU_BF16_SLOT(name, isa) Conv3x3Bf16Fn name = nullptr;

template <class T>
struct Kernels {
  SRMDS_CPU_KERNELS(SRMDS_CPU_SLOT)
  SRMDS_CPU_DETAIL_KERNELS(SRMDS_CPU_DETAIL_SLOT)
};

// The bf16 kernels (cpu/conv2d_bf16.hpp, cpu/conv2d_winograd_bf16.hpp), float activations only:
// wpacked is Bf16Conv3x3Weights::packed (conv3x3_*) or Bf16Winograd3x3Weights::packed
// (winograd3x3_*), work the caller's workspace of work_words words (at least one band). The *_dot
// kernels (VDPBF16PS) and winograd3x3_amx (AMX-BF16 tiles) are set by the avx512 variant only and
// may be called only where the processor has AVX512_BF16, or AMX-BF16 with tile data granted.
using Conv3x3Bf16Fn = void (*)(const Tensor<float, Cpu>& x, const uint32_t* wpacked, int64_t cout, const float* bias,
                               Tensor<float, Cpu>& y, uint32_t* work, int64_t work_words);
struct Bf16Kernels {
  SRMDS_CPU_BF16_KERNELS(SRMDS_CPU_BF16_SLOT)  // winograd3x3_amx: wpacked is Bf16Winograd3x3Weights::amx
};

struct KernelTable {
  Kernels<float> f32;
  Kernels<double> f64;
  Bf16Kernels bf16;
};

}  // namespace srmds::cpu::detail

// Explicit float and double instantiations of a function template declared with its signature.
#define SRMDS_CPU_INSTANTIATE(fn)         \
  template decltype(fn<float>) fn<float>; \
  template decltype(fn<double>) fn<double>;

// The one global symbol of each variant's combined object: fills *table with that variant's kernels.
#define SRMDS_CPU_ENTRY_API extern "C" __attribute__((visibility("default")))
SRMDS_CPU_ENTRY_API void srmds_cpu_kernels_baseline(srmds::cpu::detail::KernelTable* table);
SRMDS_CPU_ENTRY_API void srmds_cpu_kernels_avx2(srmds::cpu::detail::KernelTable* table);
SRMDS_CPU_ENTRY_API void srmds_cpu_kernels_avx512(srmds::cpu::detail::KernelTable* table);

namespace srmds::cpu::detail {
// The names of the slots of `table` that a variant of level `isa` must fill and has left empty,
// as "f32.adam_step", "bf16.conv3x3_dot", ... (empty when the table is complete).
std::vector<std::string> missing_kernels(const KernelTable& table, CpuIsa isa);
// Throws srmds::Error naming the variant and every empty slot (a build fault, found at start-up).
void check_kernel_table(const KernelTable& table, CpuIsa isa);
// The table of an available variant (cpu_isa_available), as loaded and checked at start-up.
const KernelTable& kernel_table(CpuIsa isa);

// The kernels of the variant in use (src/cpu/dispatch/isa.cpp), for the entry points.
template <class T>
const Kernels<T>& active_kernels();
const Bf16Kernels& active_bf16_kernels();
}  // namespace srmds::cpu::detail
