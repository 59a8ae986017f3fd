// The CPU kernels' ISA variants (cpu/isa.hpp, src/cpu/dispatch/isa.cpp): every variant this
// processor supports is built and runs conv2d (im2col and Winograd paths, float and double),
// se_relu_forward and batchnorm_forward_train against naive loops; SRMDS_CPU_ISA caps the choice
// (ctest also runs the [env] case with SRMDS_CPU_ISA=baseline); bad names are rejected.
#include "support/testing.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "srmds/cpu/batchnorm.hpp"
#include "srmds/cpu/conv2d.hpp"
#include "srmds/cpu/isa.hpp"
#include "srmds/cpu/se_relu.hpp"
#include "src/cpu/kernel_table.hpp"

using namespace srmds;
using cpu::CpuIsa;
using srmds::test::fresh_seed;
using srmds::test::random_tensor;
using srmds::test::require_close;

namespace {

// The variant chosen at the first kernel call, before any test switches it.
const std::optional<CpuIsa> g_initial_isa = []() -> std::optional<CpuIsa> {
  try {
    return cpu::cpu_isa();
  } catch (const Error&) {
    return std::nullopt;
  }
}();

// y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x[n, c, i + p - kh/2, j + q - kw/2], in double.
template <class T>
Tensor<double> naive_conv(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b) {
  const Shape& s = x.shape();
  const int64_t co = w.shape()[0], kh = w.shape()[2], kw = w.shape()[3];
  Tensor<double> y(Shape{s.n(), co, s.h(), s.w()});
  for (int64_t n = 0; n < s.n(); ++n)
    for (int64_t o = 0; o < co; ++o)
      for (int64_t i = 0; i < s.h(); ++i)
        for (int64_t j = 0; j < s.w(); ++j) {
          double acc = static_cast<double>(b[o]);
          for (int64_t c = 0; c < s.c(); ++c)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t r = i + p - kh / 2, cc = j + q - kw / 2;
                if (r >= 0 && r < s.h() && cc >= 0 && cc < s.w())
                  acc += static_cast<double>(w.at(o, c, p, q)) * static_cast<double>(x.at(n, c, r, cc));
              }
          y.at(n, o, i, j) = acc;
        }
  return y;
}

template <class T>
void check_conv(Rng& rng, const Shape& xs, int64_t cout, int64_t kh, int64_t kw) {
  INFO("x " << xs << ", Cout " << cout << ", kernel " << kh << "x" << kw);
  const auto x = random_tensor<T>(xs, rng);
  const auto w = random_tensor<T>(Shape{cout, xs.c(), kh, kw}, rng);
  const auto b = random_tensor<T>(Shape{cout}, rng);
  Tensor<T> y(Shape{xs.n(), cout, xs.h(), xs.w()});
  cpu::conv2d_forward(x, w, &b, y);
  // Relative to the sum of |w x| terms, ~ sqrt(K) for K = Cin kh kw (Winograd rounds a few times
  // more than the GEMM in float).
  const double scale = std::sqrt(static_cast<double>(xs.c() * kh * kw));
  const double rtol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  require_close(y, naive_conv(x, w, b), rtol, rtol * scale, "conv2d_forward");
}

// y = max(x a, 0), a = sigmoid(W2 ReLU(W1 mean_hw(x) + b1) + b2), in double.
Tensor<double> naive_se_relu(const Tensor<float>& x, const Tensor<float>& w1, const Tensor<float>& b1,
                             const Tensor<float>& w2, const Tensor<float>& b2) {
  const Shape& s = x.shape();
  const int64_t hd = w1.shape()[0], hw = s.h() * s.w();
  Tensor<double> y(s);
  for (int64_t n = 0; n < s.n(); ++n) {
    std::vector<double> m(static_cast<size_t>(s.c())), u(static_cast<size_t>(hd));
    for (int64_t c = 0; c < s.c(); ++c) {
      double acc = 0;
      for (int64_t i = 0; i < hw; ++i) acc += x.sample(n)[c * hw + i];
      m[static_cast<size_t>(c)] = acc / static_cast<double>(hw);
    }
    for (int64_t j = 0; j < hd; ++j) {
      double z = b1[j];
      for (int64_t c = 0; c < s.c(); ++c) z += static_cast<double>(w1[j * s.c() + c]) * m[static_cast<size_t>(c)];
      u[static_cast<size_t>(j)] = std::max(z, 0.0);
    }
    for (int64_t c = 0; c < s.c(); ++c) {
      double z = b2[c];
      for (int64_t j = 0; j < hd; ++j) z += static_cast<double>(w2[c * hd + j]) * u[static_cast<size_t>(j)];
      const double a = 1.0 / (1.0 + std::exp(-z));
      for (int64_t i = 0; i < hw; ++i) y.sample(n)[c * hw + i] = std::max(x.sample(n)[c * hw + i] * a, 0.0);
    }
  }
  return y;
}

void check_se_relu(Rng& rng) {
  const Shape s{2, 24, 9, 11};
  const int64_t hd = 4;
  const auto x = random_tensor<float>(s, rng);
  const auto w1 = random_tensor<float>(Shape{hd, s.c(), 1, 1}, rng), b1 = random_tensor<float>(Shape{hd}, rng);
  const auto w2 = random_tensor<float>(Shape{s.c(), hd, 1, 1}, rng), b2 = random_tensor<float>(Shape{s.c()}, rng);
  Tensor<float> y(s), mean(Shape{s.n(), s.c()}), hidden(Shape{s.n(), hd}), scale(Shape{s.n(), s.c()});
  cpu::se_relu_forward(x, w1, b1, w2, b2, y, mean, hidden, scale);
  require_close(y, naive_se_relu(x, w1, b1, w2, b2), 1e-5, 1e-6, "se_relu_forward");
}

// Training-mode BatchNorm: y = gamma (x - mean) / sqrt(var + eps) + beta with batch statistics.
void check_batchnorm(Rng& rng) {
  const Shape s{3, 5, 17, 13};
  const int64_t hw = s.h() * s.w();
  const double eps = 1e-5, momentum = 0.1;
  const auto x = random_tensor<double>(s, rng, -2, 3);
  const auto gamma = random_tensor<double>(Shape{s.c()}, rng), beta = random_tensor<double>(Shape{s.c()}, rng);
  auto running_mean = random_tensor<double>(Shape{s.c()}, rng), running_var = random_tensor<double>(Shape{s.c()}, rng, 0.5, 2);
  Tensor<double> y(s), save_mean(Shape{s.c()}), save_invstd(Shape{s.c()}), ref(s);
  for (int64_t c = 0; c < s.c(); ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < s.n(); ++n)
      for (int64_t i = 0; i < hw; ++i) sum += x.sample(n)[c * hw + i];
    const double mean = sum / static_cast<double>(s.n() * hw);
    for (int64_t n = 0; n < s.n(); ++n)
      for (int64_t i = 0; i < hw; ++i) sq += (x.sample(n)[c * hw + i] - mean) * (x.sample(n)[c * hw + i] - mean);
    const double invstd = 1 / std::sqrt(sq / static_cast<double>(s.n() * hw) + eps);
    for (int64_t n = 0; n < s.n(); ++n)
      for (int64_t i = 0; i < hw; ++i)
        ref.sample(n)[c * hw + i] = gamma[c] * (x.sample(n)[c * hw + i] - mean) * invstd + beta[c];
  }
  cpu::batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps, y, WriteMode::Overwrite,
                               save_mean, save_invstd);
  require_close(y, ref, 1e-12, 1e-12, "batchnorm_forward_train");
}

}  // namespace

TEST_CASE("SRMDS_CPU_ISA caps the variant chosen at the first call", "[cpu][isa][env]") {
  const char* env = std::getenv("SRMDS_CPU_ISA");
  INFO("SRMDS_CPU_ISA=" << (env ? env : "(unset)"));
  REQUIRE(g_initial_isa.has_value());
  const auto available = cpu::available_cpu_isas();
  CpuIsa expected = available.back();  // the best this processor runs
  if (env && *env) {
    const std::optional<CpuIsa> cap = cpu::detail::parse_cpu_isa(env);
    REQUIRE(cap.has_value());
    expected = CpuIsa::Baseline;
    for (CpuIsa isa : available)
      if (static_cast<int>(isa) <= static_cast<int>(*cap)) expected = isa;
  }
  CHECK(cpu::cpu_isa_name(*g_initial_isa) == std::string(cpu::cpu_isa_name(expected)));
}

TEST_CASE("CPU ISA names parse; unavailable variants are refused", "[cpu][isa]") {
  CHECK(cpu::detail::parse_cpu_isa("baseline") == CpuIsa::Baseline);
  CHECK(cpu::detail::parse_cpu_isa("AVX2") == CpuIsa::Avx2);
  CHECK(cpu::detail::parse_cpu_isa("avx512") == CpuIsa::Avx512);
  CHECK_FALSE(cpu::detail::parse_cpu_isa("sse4").has_value());
  CHECK_FALSE(cpu::detail::parse_cpu_isa("").has_value());
  REQUIRE(cpu::cpu_isa_available(CpuIsa::Baseline));
  for (CpuIsa isa : {CpuIsa::Avx2, CpuIsa::Avx512})
    if (!cpu::cpu_isa_available(isa))
      REQUIRE_THROWS_WITH(cpu::detail::set_cpu_isa(isa), Catch::Contains(cpu::cpu_isa_name(isa)));
#if defined(__x86_64__)
  // Every compiled variant the processor supports is available (all are compiled unless the build
  // asked for SRMDS_CPU_BASELINE_ONLY, as the sanitizer build does).
  CHECK(cpu::cpu_isa_available(CpuIsa::Avx2) == (cpu::cpu_isa_compiled(CpuIsa::Avx2) && __builtin_cpu_supports("avx2") &&
                                                 __builtin_cpu_supports("fma")));
  CHECK(cpu::cpu_isa_available(CpuIsa::Avx512) ==
        (cpu::cpu_isa_compiled(CpuIsa::Avx512) && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")));
#endif
}

TEST_CASE("every available CPU kernel variant matches naive loops", "[cpu][isa][conv2d]") {
  const CpuIsa before = cpu::cpu_isa();
  Rng rng(fresh_seed());
  for (CpuIsa isa : cpu::available_cpu_isas()) {
    INFO("variant " << cpu::cpu_isa_name(isa));
    cpu::detail::set_cpu_isa(isa);
    REQUIRE(cpu::cpu_isa() == isa);
    for (int64_t kh : {1, 3})
      for (int64_t kw : {1, 3}) {
        check_conv<float>(rng, Shape{2, 5, 13, 11}, 7, kh, kw);
        check_conv<double>(rng, Shape{2, 5, 13, 11}, 7, kh, kw);
      }
    check_conv<float>(rng, Shape{1, 16, 64, 66}, 6, 3, 3);  // the Winograd path
    check_conv<double>(rng, Shape{1, 17, 65, 64}, 5, 3, 3);
    check_se_relu(rng);
    check_batchnorm(rng);
  }
  cpu::detail::set_cpu_isa(before);
}

// src/cpu/kernel_list.hpp's lists fill every slot of every variant (checked at start-up too), and
// the start-up check names a slot that a variant left empty.
TEST_CASE("every CPU kernel variant fills every kernel slot", "[cpu][isa][table]") {
  for (CpuIsa isa : cpu::available_cpu_isas()) {
    INFO("variant " << cpu::cpu_isa_name(isa));
    const cpu::detail::KernelTable& table = cpu::detail::kernel_table(isa);
    CHECK(cpu::detail::missing_kernels(table, isa).empty());
    REQUIRE_NOTHROW(cpu::detail::check_kernel_table(table, isa));

    cpu::detail::KernelTable broken = table;
    broken.f64.psa_backward = nullptr;
    broken.f32.conv2d_banded = nullptr;
    CHECK(cpu::detail::missing_kernels(broken, isa) ==
          std::vector<std::string>{"f64.psa_backward", "f32.conv2d_banded"});
    CHECK_THROWS_WITH(cpu::detail::check_kernel_table(broken, isa),
                      Catch::Contains("f64.psa_backward") && Catch::Contains("f32.conv2d_banded"));

    // The bf16 dot-product kernels belong to the avx512 variant only.
    broken = table;
    broken.bf16.conv3x3_dot = nullptr;
    CHECK(cpu::detail::missing_kernels(broken, isa).size() == (isa == CpuIsa::Avx512 ? 1u : 0u));
    broken.bf16.winograd3x3_fma = nullptr;
    CHECK(cpu::detail::missing_kernels(broken, isa).back() == "bf16.winograd3x3_fma");
  }
}
