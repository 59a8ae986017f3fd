// The bf16 Winograd convolution's entry points (include/srmds/cpu/conv2d_winograd_bf16.hpp): weight
// transform and packing, shape checks, workspace, and the run-time choice between the VDPBF16PS
// kernel and the fp32 one, the same choice as the direct bf16 convolution's
// (bf16_dot_products_active(), src/cpu/dispatch/conv2d_bf16.cpp). Compiled once, with the library's
// ordinary flags.
#include "srmds/cpu/conv2d_winograd_bf16.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../kernel_table.hpp"
#include "srmds/core/buffer.hpp"
#include "srmds/core/error.hpp"

namespace srmds::cpu {

namespace {

int64_t max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
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
  for (int64_t o = 0; o < out.cout; ++o) {
    for (int64_t c = 0; c < out.cin; ++c) {
      const float* g = w.sample(o) + c * 9;
      double gg[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        const double a = g[j], b = g[3 + j], cc = g[6 + j];
        gg[0][j] = a;
        gg[1][j] = 0.5 * (a + b + cc);
        gg[2][j] = 0.5 * (a - b + cc);
        gg[3][j] = cc;
      }
      for (int i = 0; i < 4; ++i) {  // (G g) G^T, rounded to fp32 and then to bf16
        const double a = gg[i][0], b = gg[i][1], cc = gg[i][2];
        const double r[4] = {a, 0.5 * (a + b + cc), 0.5 * (a - b + cc), cc};
        for (int j = 0; j < 4; ++j) {
          const int k = i * 4 + j;
          const size_t at = static_cast<size_t>(((k * blocks + o / kBf16OutBlock) * c2n + c / 2) * kBf16OutBlock +
                                                o % kBf16OutBlock);
          out.packed[at] |= static_cast<uint32_t>(float_to_bf16(static_cast<float>(r[j]))) << (16 * (c % 2));
        }
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
  const detail::Conv3x3Bf16Fn fn =
      bf16_dot_products_active() && k.winograd3x3_dot ? k.winograd3x3_dot : k.winograd3x3_fma;
  fn(x, w.packed.data(), w.cout, bias ? bias->data() : nullptr, y, workspace, workspace_words);
}

}  // namespace srmds::cpu
