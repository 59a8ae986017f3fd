// KernelTable: the addresses of one ISA variant's CPU kernels, for float and double. Each member has
// the type of the public entry point of the same name (include/srmds/cpu/*.hpp), so a kernel whose
// signature drifts from its declaration does not compile. Shared by the variants (src/cpu/*.cpp,
// which fill it) and the dispatcher (src/cpu/dispatch/, which calls through it); it holds function
// pointers only, no code. See src/cpu/dispatch/isa.cpp for the scheme.
// A new CPU op: declare it in include/srmds/cpu/<op>.hpp, add its member here, write the kernel and
// register_<op>() in src/cpu/<op>.cpp, list <op> in kernel_table.cpp, and add its entry point to
// src/cpu/dispatch/entries.cpp.
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
#include "srmds/cpu/maxpool.hpp"
#include "srmds/cpu/psa.hpp"
#include "srmds/cpu/relu.hpp"
#include "srmds/cpu/se.hpp"
#include "srmds/cpu/se_relu.hpp"
#include "srmds/cpu/sge.hpp"
#include "srmds/cpu/sigmoid.hpp"
#include "srmds/cpu/upsample.hpp"

namespace srmds::cpu::detail {

template <class T>
struct Kernels {
  decltype(&cpu::adam_step<T>) adam_step = nullptr;
  decltype(&cpu::batchnorm_forward_train<T>) batchnorm_forward_train = nullptr;
  decltype(&cpu::batchnorm_forward_eval<T>) batchnorm_forward_eval = nullptr;
  decltype(&cpu::batchnorm_backward<T>) batchnorm_backward = nullptr;
  decltype(&cpu::bce_dice_loss<T>) bce_dice_loss = nullptr;
  decltype(&cpu::cbam_forward<T>) cbam_forward = nullptr;
  decltype(&cpu::cbam_backward<T>) cbam_backward = nullptr;
  decltype(&cpu::confusion_counts<T>) confusion_counts = nullptr;
  decltype(&cpu::conv2d_forward<T>) conv2d_forward = nullptr;
  decltype(&cpu::conv2d_backward_data<T>) conv2d_backward_data = nullptr;
  decltype(&cpu::conv2d_backward_filter<T>) conv2d_backward_filter = nullptr;
  decltype(&cpu::conv2d_backward_bias<T>) conv2d_backward_bias = nullptr;
  decltype(&cpu::detail::conv2d_banded<T>) conv2d_banded = nullptr;
  decltype(&cpu::detail::conv2d_filter_banded<T>) conv2d_filter_banded = nullptr;
  decltype(&cpu::conv2d_branches_winograd_forward<T>) conv2d_branches_winograd_forward = nullptr;
  decltype(&cpu::conv2d_branches_winograd_backward_filter<T>) conv2d_branches_winograd_backward_filter = nullptr;
  decltype(&cpu::conv2d_winograd3x3<T>) conv2d_winograd3x3 = nullptr;
  decltype(&cpu::conv2d_winograd3x3_f4x4<T>) conv2d_winograd3x3_f4x4 = nullptr;
  decltype(&cpu::downsample_target<T>) downsample_target = nullptr;
  decltype(&cpu::maxpool2_forward<T>) maxpool2_forward = nullptr;
  decltype(&cpu::maxpool2_backward<T>) maxpool2_backward = nullptr;
  decltype(&cpu::psa_forward<T>) psa_forward = nullptr;
  decltype(&cpu::psa_backward<T>) psa_backward = nullptr;
  decltype(&cpu::relu_forward<T>) relu_forward = nullptr;
  decltype(&cpu::relu_backward<T>) relu_backward = nullptr;
  decltype(&cpu::se_forward<T>) se_forward = nullptr;
  decltype(&cpu::se_backward<T>) se_backward = nullptr;
  decltype(&cpu::se_relu_forward<T>) se_relu_forward = nullptr;
  decltype(&cpu::sge_forward<T>) sge_forward = nullptr;
  decltype(&cpu::sge_backward<T>) sge_backward = nullptr;
  decltype(&cpu::sigmoid_forward<T>) sigmoid_forward = nullptr;
  decltype(&cpu::sigmoid_backward<T>) sigmoid_backward = nullptr;
  decltype(&cpu::upsample_bilinear_forward<T>) upsample_bilinear_forward = nullptr;
  decltype(&cpu::upsample_bilinear_backward<T>) upsample_bilinear_backward = nullptr;
};

// The bf16 kernels (cpu/conv2d_bf16.hpp, cpu/conv2d_winograd_bf16.hpp), float activations only:
// wpacked is Bf16Conv3x3Weights::packed (conv3x3_*) or Bf16Winograd3x3Weights::packed
// (winograd3x3_*), work the caller's workspace of work_words words (at least one band). The *_dot
// kernels (VDPBF16PS) and winograd3x3_amx (AMX-BF16 tiles) are set by the avx512 variant only and
// may be called only where the processor has AVX512_BF16, or AMX-BF16 with tile data granted.
using Conv3x3Bf16Fn = void (*)(const Tensor<float, Cpu>& x, const uint32_t* wpacked, int64_t cout, const float* bias,
                               Tensor<float, Cpu>& y, uint32_t* work, int64_t work_words);
struct Bf16Kernels {
  Conv3x3Bf16Fn conv3x3_fma = nullptr;
  Conv3x3Bf16Fn conv3x3_dot = nullptr;
  Conv3x3Bf16Fn winograd3x3_fma = nullptr;
  Conv3x3Bf16Fn winograd3x3_dot = nullptr;
  Conv3x3Bf16Fn winograd3x3_amx = nullptr;  // wpacked: Bf16Winograd3x3Weights::amx
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
// The kernels of the variant in use (src/cpu/dispatch/isa.cpp), for the entry points.
template <class T>
const Kernels<T>& active_kernels();
const Bf16Kernels& active_bf16_kernels();
}  // namespace srmds::cpu::detail
