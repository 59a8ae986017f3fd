// The entry point of one ISA variant: srmds_cpu_kernels_<isa>() fills a KernelTable with the
// addresses of that variant's kernels (each src/cpu/<op>.cpp contributes register_<op>). After the
// variant's objects are combined, this is the only global symbol they define (see
// src/cpu/dispatch/isa.cpp).
#include "variant.hpp"

#define SRMDS_CPU_OPS(X) \
  X(adam)                \
  X(batchnorm)           \
  X(bce_dice)            \
  X(cbam)                \
  X(confusion)           \
  X(conv2d)              \
  X(conv2d_branches)     \
  X(conv2d_bf16)         \
  X(conv2d_winograd)     \
  X(conv2d_winograd4)    \
  X(conv2d_winograd_bf16) \
  X(downsample_target)   \
  X(maxpool)             \
  X(psa)                 \
  X(relu)                \
  X(se)                  \
  X(se_relu)             \
  X(sge)                 \
  X(sigmoid)             \
  X(upsample)

#define SRMDS_CPU_DECLARE(op) void register_##op(::srmds::cpu::detail::KernelTable& table);
#define SRMDS_CPU_CALL(op) register_##op(*table);
#define SRMDS_CPU_PASTE2(a, b) a##b
#define SRMDS_CPU_PASTE(a, b) SRMDS_CPU_PASTE2(a, b)

namespace srmds::cpu::SRMDS_CPU_ISA {
SRMDS_CPU_OPS(SRMDS_CPU_DECLARE)
}  // namespace srmds::cpu::SRMDS_CPU_ISA

SRMDS_CPU_ENTRY_API void SRMDS_CPU_PASTE(srmds_cpu_kernels_, SRMDS_CPU_ISA)(srmds::cpu::detail::KernelTable* table) {
  using namespace srmds::cpu::SRMDS_CPU_ISA;
  SRMDS_CPU_OPS(SRMDS_CPU_CALL)
}
