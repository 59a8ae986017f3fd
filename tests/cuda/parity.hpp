// Helpers for the CUDA parity tests: every CUDA op is compared with the CPU backend (the checked
// ops with Context<Cpu>, run in double on the same float inputs) on fresh random inputs, with
// TF32 off and cuDNN restricted to deterministic algorithms. GPU operands can be strided channel
// views: a Slot is a tensor either owning its memory or a view of channels [2, 2 + C) of a larger
// (N, C + 3, H, W) parent filled with random sentinels, which must come out untouched.
// The same test bodies also run on a CPU stand-in device (SRMDS_CUDA_STANDIN=1, the ctest entry
// test_cuda_standin, built without CUDA): Dut is then Cpu, so the "GPU" side is the CPU backend in
// float against the same double reference with the same tolerances, and a fault of the test itself
// (a reference that is exactly zero, a tolerance that cannot hold, a wrong shape) shows up in CI
// without a GPU. Only what needs a real GPU (the allocator, cuDNN's plans) is left out there.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "srmds/ops/tensor_ops.hpp"
#include "srmds/ops/transfer.hpp"
#include "support/testing.hpp"
#if !SRMDS_CUDA_STANDIN
#include "kernels/check.hpp"
#include "srmds/cuda/cuda.hpp"
#endif

namespace srmds::test {

#if SRMDS_CUDA_STANDIN
using Dut = Cpu;  // the device under test: the CPU backend standing in for the GPU
#else
using Dut = Cuda;
#endif
using TD = Tensor<float, Dut>;
using TH = Tensor<float, Cpu>;
using THd = Tensor<double, Cpu>;

// The cases of a parity test's loop: all of them, or only the first (the smallest) with
// SRMDS_CUDA_SMALL=1, as run.sh's memcheck and racecheck steps run every kernel: one small case each.
template <class T>
std::vector<T> cases(std::initializer_list<T> all) {
  const char* small = std::getenv("SRMDS_CUDA_SMALL");
  if (small && std::string(small) == "1") return {*all.begin()};
  return all;
}

// A GPU context with TF32 off (the parity tolerance is fp32's) and deterministic cuDNN
// algorithms (a failure replays bit for bit with the printed seed).
struct Gpu {
  Context<Dut> ctx;
  Gpu() {
#if !SRMDS_CUDA_STANDIN
    ctx.set_tf32(false);
    ctx.set_deterministic(true);
#endif
  }
};

// Exact double copy of a contiguous float host tensor.
inline THd as_double(const TH& t) {
  REQUIRE(t.is_contiguous());
  THd d(t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<double>(t[i]);
  return d;
}

inline TH download(Context<Dut>& g, const TD& d) { return to_host(g, d); }

// Two contiguous host tensors of the same shape hold the same bits (a replay, not a rerun within
// a tolerance).
inline bool same_bits(const TH& a, const TH& b) {
  return a.shape() == b.shape() &&
         (a.numel() == 0 || std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0);
}

// A GPU tensor of shape s, owning (strided == false) or a channel view inside a larger parent.
struct Slot {
  TD parent;
  TD t;
  TH parent_before;
  int64_t first = 0;
  bool strided = false;

  Slot(Context<Dut>& g, const Shape& s, bool strided_view, Rng& rng, const TH* init = nullptr)
      : strided(strided_view && s.rank() == 4) {
    if (strided) {
      const Shape ps{s.n(), s.c() + 3, s.h(), s.w()};
      first = 2;
      parent_before = random_tensor<float>(ps, rng, -7.0, 7.0);
      parent = from_host(g, parent_before);
      t = parent.channels(first, s.c());
      if (init) {
        copy_to_device(g, *init, t);  // exercises the strided host-to-device copy
        for (int64_t n = 0; n < s.n(); ++n)
          for (int64_t c = 0; c < s.c(); ++c)
            for (int64_t h = 0; h < s.h(); ++h)
              for (int64_t w = 0; w < s.w(); ++w) parent_before.at(n, first + c, h, w) = init->at(n, c, h, w);
      }
    } else {
      t = init ? from_host(g, *init) : TD(s, g);
      if (!init) fill(g, t, std::nanf(""));  // an output that is never written shows up as NaN
    }
  }

  // The parent's channels outside the view are bit-for-bit what they were.
  void require_outside_untouched(Context<Dut>& g, const std::string& what) const {
    if (!strided) return;
    const TH now = download(g, parent);
    const Shape& s = parent.shape();
    const int64_t count = t.shape().c();
    int64_t changed = 0;
    for (int64_t n = 0; n < s.n(); ++n)
      for (int64_t c = 0; c < s.c(); ++c) {
        if (c >= first && c < first + count) continue;
        for (int64_t h = 0; h < s.h(); ++h)
          for (int64_t w = 0; w < s.w(); ++w)
            if (now.at(n, c, h, w) != parent_before.at(n, c, h, w)) ++changed;
      }
    INFO(what << ": elements outside the channel view changed: " << changed);
    CHECK(changed == 0);
  }
};

inline double max_abs(const THd& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t[i]));
  return m;
}

// GPU result against the double CPU reference: |a - r| <= rtol |r| + atol elementwise with
// atol = atol_scale * max(max|r|, op_scale), and the relative norm check of require_close.
//
// The rule for gradients that are exactly zero or cancel (the same on both backends: the CPU
// finite-difference test tests/test_psa.cpp holds them to 1e-12 op_scale in double; PSA's are
// listed in tests/support/psa_zero_grads.hpp): such a reference is rounding noise, so no bound
// relative to it means anything. The caller says which tensors these are and passes op_scale, the largest |value| among the other gradients of the same op: the
// tensor is then held to the absolute bound atol_scale * op_scale, so its noise must stay at the
// level the op's real gradients are checked at. Every other reference must not be all zeros
// (op_scale = 0: a reference of zeros only fails, since it would check nothing).
inline void require_parity(const TH& gpu, const THd& ref, const std::string& what, double rtol = 1e-4,
                           double atol_scale = 1e-5, double op_scale = 0) {
  const double m = std::max(max_abs(ref), op_scale);
  INFO(what << ": reference max |value| " << max_abs(ref) << ", scale " << m);
  REQUIRE(m > 0);
  require_close(gpu, ref, rtol, atol_scale * m, what);
}

inline void require_parity(Context<Dut>& g, const TD& gpu, const THd& ref, const std::string& what,
                           double rtol = 1e-4, double atol_scale = 1e-5, double op_scale = 0) {
  require_parity(download(g, gpu), ref, what, rtol, atol_scale, op_scale);
}

}  // namespace srmds::test
