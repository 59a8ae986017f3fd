// The bf16 Winograd convolution's entry points (include/srmds/cpu/conv2d_winograd_bf16.hpp): weight
// transform and packing, shape checks, workspace, and the run-time choice of the GEMM kernel: AMX
// where the avx512 variant runs, the processor reports AMX-BF16 (__builtin_cpu_supports) and Linux
// grants this process the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM, asked once), unless
// switched off (detail::set_bf16_amx); else VDPBF16PS or fp32, the same choice as the direct bf16
// convolution's (bf16_dot_products_active(), src/cpu/dispatch/conv2d_bf16.cpp). Compiled once,
// with the library's ordinary flags.
#include "srmds/cpu/conv2d_winograd_bf16.hpp"

#include <atomic>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "../kernel_table.hpp"
#include "../winograd2_common.hpp"
#include "srmds/core/buffer.hpp"
#include "srmds/core/error.hpp"
#include "srmds/cpu/isa.hpp"

#ifndef SRMDS_CPU_X86_VARIANTS
#define SRMDS_CPU_X86_VARIANTS 0
#endif

namespace srmds::cpu {

namespace {

int64_t max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

std::atomic<bool> g_use_amx{true};

bool processor_has_amx() {
#if SRMDS_CPU_X86_VARIANTS && defined(__linux__) && defined(SYS_arch_prctl)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("amx-bf16") || !cpu_isa_available(CpuIsa::Avx512)) return false;
  constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;  // <asm/prctl.h>, Linux 5.16
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

}  // namespace

Bf16Winograd3x3Weights pack_winograd3x3_bf16(const Tensor<float, Cpu>& w) {
  const Shape& s = w.shape();
  SRMDS_CHECK(s.rank() == 4 && s[2] == 3 && s[3] == 3,
              "pack_winograd3x3_bf16: weight " << s << " is not a (Cout, Cin, 3, 3) kernel");
  Bf16Winograd3x3Weights out;
  out.cout = s[0];
  out.cin = s[1];
  const int64_t blocks = (out.cout + kBf16OutBlock - 1) / kBf16OutBlock, c2n = (out.cin + 1) / 2;
  out.packed.assign(static_cast<size_t>(16 * blocks * c2n * kBf16OutBlock), 0u);
  const bool amx = bf16_amx_available();
  const int64_t c2p = winograd_bf16_pad16(c2n), coutp = winograd_bf16_pad16(out.cout);
  if (amx) out.amx.assign(static_cast<size_t>(16 * coutp * c2p), 0u);
  for (int64_t o = 0; o < out.cout; ++o) {
    for (int64_t c = 0; c < out.cin; ++c) {
      double u[16];  // G g G^T, rounded to fp32 and then to bf16
      detail::winograd2_filter(w.sample(o) + c * 9, u);
      for (int k = 0; k < 16; ++k) {
        const size_t at = static_cast<size_t>(((k * blocks + o / kBf16OutBlock) * c2n + c / 2) * kBf16OutBlock +
                                              o % kBf16OutBlock);
        const uint32_t bits = static_cast<uint32_t>(float_to_bf16(static_cast<float>(u[k]))) << (16 * (c % 2));
        out.packed[at] |= bits;
        if (amx) out.amx[static_cast<size_t>((k * coutp + o) * c2p + c / 2)] |= bits;
      }
    }
  }
  return out;
}

int64_t conv3x3_winograd_bf16_workspace(int64_t cin, int64_t cout, int64_t n, int64_t h, int64_t w) {
  const int64_t t = max_threads();
  return t * winograd_bf16_band_words(cin, cout, n, h, w, t);
}

void conv3x3_winograd_bf16_forward(const Tensor<float, Cpu>& x, const Bf16Winograd3x3Weights& w,
                                   const Tensor<float, Cpu>* bias, Tensor<float, Cpu>& y, uint32_t* workspace,
                                   int64_t workspace_words) {
  SRMDS_CHECK(!w.empty(), "conv3x3_winograd_bf16_forward: the weights are not packed (pack_winograd3x3_bf16)");
  SRMDS_CHECK(x.shape().rank() == 4 && x.shape().c() == w.cin, "conv3x3_winograd_bf16_forward: x "
                                                                    << x.shape() << " for a " << w.cin << " -> "
                                                                    << w.cout << " convolution");
  const Shape& xs = x.shape();
  const Shape expected{xs.n(), w.cout, xs.h(), xs.w()};
  SRMDS_CHECK(y.shape() == expected,
              "conv3x3_winograd_bf16_forward: y " << y.shape() << " expected " << expected << " for x " << xs);
  if (bias)
    SRMDS_CHECK(bias->shape() == Shape{w.cout} && bias->is_contiguous(),
                "conv3x3_winograd_bf16_forward: bias " << bias->shape() << " expected (" << w.cout << ")");
  Buffer own;
  if (!workspace) {
    workspace_words = conv3x3_winograd_bf16_workspace(w.cin, w.cout, xs.n(), xs.h(), xs.w());
    own = host_buffer(static_cast<size_t>(workspace_words) * sizeof(uint32_t));
    workspace = static_cast<uint32_t*>(own.get());
  }
  const int64_t one_band = winograd_bf16_band_words(w.cin, w.cout, xs.n(), xs.h(), xs.w(), max_threads());
  SRMDS_CHECK(workspace_words >= one_band, "conv3x3_winograd_bf16_forward: workspace of "
                                               << workspace_words << " words for x " << xs
                                               << " is less than one band (" << one_band << " words)");
  const detail::Bf16Kernels& k = detail::active_bf16_kernels();
  const float* b = bias ? bias->data() : nullptr;
  if (bf16_amx_active() && !w.amx.empty()) {
    k.winograd3x3_amx(x, w.amx.data(), w.cout, b, y, workspace, workspace_words);
    return;
  }
  const detail::Conv3x3Bf16Fn fn =
      bf16_dot_products_active() && k.winograd3x3_dot ? k.winograd3x3_dot : k.winograd3x3_fma;
  fn(x, w.packed.data(), w.cout, b, y, workspace, workspace_words);
}

bool bf16_amx_available() {
  static const bool available = processor_has_amx();
  return available;
}

bool bf16_amx_active() {
  return bf16_amx_available() && g_use_amx.load(std::memory_order_relaxed) && cpu_isa() == CpuIsa::Avx512 &&
         detail::active_bf16_kernels().winograd3x3_amx != nullptr;
}

namespace detail {
void set_bf16_amx(bool use) { g_use_amx.store(use, std::memory_order_relaxed); }
}  // namespace detail

}  // namespace srmds::cpu
