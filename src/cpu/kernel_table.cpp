// The entry point of one ISA variant: srmds_cpu_kernels_<isa>() fills a KernelTable with the
// addresses of that variant's kernels, every slot of kernel_list.hpp's lists (each kernel is defined
// and instantiated in its src/cpu/<op>.cpp; the bf16 ones register themselves, since only some
// variants have them). After the variant's objects are combined, this is the only global symbol
// they define (see src/cpu/dispatch/isa.cpp).
#include "variant.hpp"

#define SRMDS_CPU_DECLARE(name, ret, params, ...) \
  template <class T>                              \
  ret name params;
#define SRMDS_CPU_FILL(name, ...)                            \
  table->f32.name = &srmds::cpu::SRMDS_CPU_ISA::name<float>; \
  table->f64.name = &srmds::cpu::SRMDS_CPU_ISA::name<double>;
#define SRMDS_CPU_DETAIL_FILL(name, ...)                             \
  table->f32.name = &srmds::cpu::SRMDS_CPU_ISA::detail::name<float>; \
  table->f64.name = &srmds::cpu::SRMDS_CPU_ISA::detail::name<double>;

namespace srmds::cpu::SRMDS_CPU_ISA {
SRMDS_CPU_KERNELS(SRMDS_CPU_DECLARE)
namespace detail {
SRMDS_CPU_DETAIL_KERNELS(SRMDS_CPU_DECLARE)
}  // namespace detail
void register_conv2d_bf16(::srmds::cpu::detail::KernelTable& table);
void register_conv2d_winograd_bf16(::srmds::cpu::detail::KernelTable& table);
}  // namespace srmds::cpu::SRMDS_CPU_ISA

#define SRMDS_CPU_PASTE2(a, b) a##b
#define SRMDS_CPU_PASTE(a, b) SRMDS_CPU_PASTE2(a, b)

SRMDS_CPU_ENTRY_API void SRMDS_CPU_PASTE(srmds_cpu_kernels_, SRMDS_CPU_ISA)(srmds::cpu::detail::KernelTable* table) {
  SRMDS_CPU_KERNELS(SRMDS_CPU_FILL)
  SRMDS_CPU_DETAIL_KERNELS(SRMDS_CPU_DETAIL_FILL)
  srmds::cpu::SRMDS_CPU_ISA::register_conv2d_bf16(*table);
  srmds::cpu::SRMDS_CPU_ISA::register_conv2d_winograd_bf16(*table);
}
