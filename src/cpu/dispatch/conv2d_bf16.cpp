// The bf16 convolution's entry points (include/srmds/cpu/conv2d_bf16.hpp): weight packing, shape
// checks, workspace, and the run-time choice between the VDPBF16PS kernel and the fp32 one. The
// VDPBF16PS kernel runs when the avx512 kernel variant is the one in use (cpu/isa.hpp), the
// processor reports AVX512_BF16 (__builtin_cpu_supports, as isa.cpp does for AVX-512), and
// detail::set_bf16_dot_products has not switched it off; otherwise the fp32 kernel of the variant in
// use. Compiled once, with the library's ordinary flags.
#include "srmds/cpu/conv2d_bf16.hpp"

#include <atomic>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../kernel_table.hpp"
#include "srmds/core/buffer.hpp"
#include "srmds/core/error.hpp"
#include "srmds/cpu/isa.hpp"

#ifndef SRMDS_CPU_X86_VARIANTS
#define SRMDS_CPU_X86_VARIANTS 0
#endif

namespace srmds::cpu {

namespace {

std::atomic<bool> g_use_dot{true};

bool processor_has_bf16_dot() {
#if SRMDS_CPU_X86_VARIANTS
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") && cpu_isa_available(CpuIsa::Avx512);
#else
  return false;
#endif
}

}  // namespace

Bf16Conv3x3Weights pack_conv3x3_bf16(const Tensor<float, Cpu>& w) {
  const Shape& s = w.shape();
  SRMDS_CHECK(s.rank() == 4 && s[2] == 3 && s[3] == 3,
              "pack_conv3x3_bf16: weight " << s << " is not a (Cout, Cin, 3, 3) kernel");
  Bf16Conv3x3Weights out;
  out.cout = s[0];
  out.cin = s[1];
  const int64_t blocks = (out.cout + kBf16OutBlock - 1) / kBf16OutBlock, c2n = (out.cin + 1) / 2;
  out.packed.assign(static_cast<size_t>(blocks * c2n * 9 * kBf16OutBlock), 0u);
  auto wv = [&](int64_t o, int64_t c, int t) -> uint32_t {
    if (o >= out.cout || c >= out.cin) return 0u;
    return float_to_bf16(w.sample(o)[c * 9 + t]);
  };
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t c2 = 0; c2 < c2n; ++c2)
      for (int t = 0; t < 9; ++t)
        for (int k = 0; k < kBf16OutBlock; ++k) {
          const int64_t o = b * kBf16OutBlock + k;
          out.packed[static_cast<size_t>(((b * c2n + c2) * 9 + t) * kBf16OutBlock + k)] =
              wv(o, 2 * c2, t) | (wv(o, 2 * c2 + 1, t) << 16);
        }
  return out;
}

int64_t conv3x3_bf16_workspace(int64_t cin, int64_t h, int64_t w) {
#ifdef _OPENMP
  const int64_t threads = omp_get_max_threads();
#else
  const int64_t threads = 1;
#endif
  return threads * bf16_band_words(cin, h, w);
}

void conv3x3_bf16_forward(const Tensor<float, Cpu>& x, const Bf16Conv3x3Weights& w, const Tensor<float, Cpu>* bias,
                          Tensor<float, Cpu>& y, uint32_t* workspace, int64_t workspace_words) {
  SRMDS_CHECK(!w.empty(), "conv3x3_bf16_forward: the weights are not packed (pack_conv3x3_bf16)");
  SRMDS_CHECK(x.shape().rank() == 4 && x.shape().c() == w.cin,
              "conv3x3_bf16_forward: x " << x.shape() << " for a " << w.cin << " -> " << w.cout << " convolution");
  const Shape expected{x.shape().n(), w.cout, x.shape().h(), x.shape().w()};
  SRMDS_CHECK(y.shape() == expected,
              "conv3x3_bf16_forward: y " << y.shape() << " expected " << expected << " for x " << x.shape());
  if (bias)
    SRMDS_CHECK(bias->shape() == Shape{w.cout} && bias->is_contiguous(),
                "conv3x3_bf16_forward: bias " << bias->shape() << " expected (" << w.cout << ")");
  const Shape& xs = x.shape();
  Buffer own;
  if (!workspace) {
    workspace_words = conv3x3_bf16_workspace(w.cin, xs.h(), xs.w());
    own = host_buffer(static_cast<size_t>(workspace_words) * sizeof(uint32_t));
    workspace = static_cast<uint32_t*>(own.get());
  }
  SRMDS_CHECK(workspace_words >= bf16_band_words(w.cin, xs.h(), xs.w()),
              "conv3x3_bf16_forward: workspace of " << workspace_words << " words for x " << xs << " is less than one band ("
                                                    << bf16_band_words(w.cin, xs.h(), xs.w()) << " words)");
  const detail::Bf16Kernels& k = detail::active_bf16_kernels();
  const detail::Conv3x3Bf16Fn fn = bf16_dot_products_active() && k.conv3x3_dot ? k.conv3x3_dot : k.conv3x3_fma;
  fn(x, w.packed.data(), w.cout, bias ? bias->data() : nullptr, y, workspace, workspace_words);
}

bool bf16_dot_products_available() {
  static const bool available = processor_has_bf16_dot();
  return available;
}

bool bf16_dot_products_active() {
  return bf16_dot_products_available() && g_use_dot.load(std::memory_order_relaxed) && cpu_isa() == CpuIsa::Avx512 &&
         detail::active_bf16_kernels().conv3x3_dot != nullptr;
}

namespace detail {
void set_bf16_dot_products(bool use) { g_use_dot.store(use, std::memory_order_relaxed); }
}  // namespace detail

}  // namespace srmds::cpu
