// Test helpers: fresh random tensors, tolerance comparisons that mean something, and
// finite-difference gradient checks in double precision.
#pragma once

#include <catch2/catch.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "srmds/core/rng.hpp"
#include "srmds/core/tensor.hpp"

namespace srmds::test {

// A seed that differs from run to run: the clock and the process id, mixed (splitmix64). Not
// std::random_device, whose static libstdc++ needs glibc 2.36 (arc4random) and so would keep the
// GPU bundle's test program from starting on older systems.
inline uint64_t entropy_seed() {
  uint64_t z = static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count()) ^
               (static_cast<uint64_t>(::getpid()) << 40);
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A per-run seed (fresh inputs every run), printed on failure through Catch's INFO; SRMDS_TEST_SEED
// sets it (the CUDA tests print it at start, tests/cuda/catch_main_cuda.cpp).
inline uint64_t fresh_seed() {
  static uint64_t base = []() -> uint64_t {
    if (const char* s = std::getenv("SRMDS_TEST_SEED")) return std::strtoull(s, nullptr, 10);
    return entropy_seed();
  }();
  return base++;
}

template <class T>
Tensor<T, Cpu> random_tensor(const Shape& s, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Tensor<T, Cpu> t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(rng.uniform(lo, hi));
  return t;
}

// A contiguous copy of a (possibly strided) tensor: one run per sample for rank 4, one in all
// otherwise.
template <class T>
Tensor<T, Cpu> contiguous(const Tensor<T, Cpu>& t) {
  Tensor<T, Cpu> c(t.shape());
  const bool rank4 = t.shape().rank() == 4;
  const int64_t runs = rank4 ? t.shape().n() : 1, len = rank4 ? t.sample_numel() : t.numel();
  for (int64_t n = 0; n < runs; ++n) {
    const T* src = rank4 ? t.sample(n) : t.data();
    T* dst = rank4 ? c.sample(n) : c.data();
    for (int64_t i = 0; i < len; ++i) dst[i] = src[i];
  }
  return c;
}

// Max |a - b| <= atol + rtol |b| elementwise (b is the reference) and
// ||a - b|| <= rtol ||b|| + atol sqrt(n) over the tensor. Both tensors contiguous.
template <class T, class U>
void require_close(const Tensor<T, Cpu>& a, const Tensor<U, Cpu>& ref, double rtol, double atol,
                   const std::string& what = "") {
  INFO(what << ": shapes " << a.shape() << " vs " << ref.shape());
  REQUIRE(a.shape() == ref.shape());
  double err2 = 0, ref2 = 0, worst = 0;
  int64_t worst_i = -1;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = static_cast<double>(a[i]), r = static_cast<double>(ref[i]);
    REQUIRE(std::isfinite(x));
    const double d = std::abs(x - r);
    err2 += d * d;
    ref2 += r * r;
    const double excess = d - (atol + rtol * std::abs(r));
    if (excess > worst) {
      worst = excess;
      worst_i = i;
    }
  }
  INFO(what << ": worst element " << worst_i << " exceeds tolerance by " << worst);
  CHECK(worst_i == -1);
  INFO(what << ": relative norm error " << std::sqrt(err2) / (std::sqrt(ref2) + 1e-300));
  CHECK(std::sqrt(err2) <= rtol * std::sqrt(ref2) + atol * std::sqrt(static_cast<double>(a.numel())));
}

// Central-difference check of an analytic gradient. `loss` recomputes a scalar from the current
// value of `param` (double precision); `analytic` is d loss / d param computed beforehand.
// Checks up to `max_points` entries (all if the tensor is small), chosen at random.
//
// Curvature: an entry whose central difference disagrees is checked again at eps / 10 and eps / 100
// (the central difference's truncation error falls as eps^2; SGE's normalisation over a one-channel
// group whose mean g is near 0 has second derivatives ~1e-5 / |g|^3, which eps = 1e-6 may not resolve).
// Kinks: with rtol_one_sided > 0, an entry whose central difference disagrees passes if a
// forward or backward difference (step eps, eps/10 or eps/100) matches within rtol_one_sided. Needed where ReLU or max-pool
// kinks may lie within eps of the evaluation point (a network has thousands of ReLUs; with
// training-mode BN and SE every output depends on every input, so one pre-activation near zero
// spoils the central difference everywhere). A wrong gradient fails all three differences.
inline void check_gradient(Tensor<double, Cpu>& param, const Tensor<double, Cpu>& analytic,
                           const std::function<double()>& loss, const std::string& what, Rng& rng,
                           int max_points = 48, double eps = 1e-6, double rtol = 1e-6, double atol = 1e-8,
                           double rtol_one_sided = 0) {
  REQUIRE(param.shape() == analytic.shape());
  REQUIRE(param.is_contiguous());
  const int64_t n = param.numel();
  std::vector<int64_t> idx;
  if (n <= max_points) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (int k = 0; k < max_points; ++k) idx.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(n))));
  }
  double max_abs_grad = 0;
  for (int64_t i = 0; i < n; ++i) max_abs_grad = std::max(max_abs_grad, std::abs(analytic[i]));
  const double l0 = rtol_one_sided > 0 ? loss() : 0.0;
  for (int64_t i : idx) {
    const double saved = param[i];
    param[i] = saved + eps;
    const double lp = loss();
    param[i] = saved - eps;
    const double lm = loss();
    param[i] = saved;
    const double a = analytic[i];
    const double central = (lp - lm) / (2 * eps);
    const double scale = std::max(std::abs(central), max_abs_grad);
    if (std::abs(a - central) <= atol + rtol * scale) continue;
    bool resolved = false;  // large curvature, not a kink: the central error falls as eps^2
    // A kink at distance d spoils only the one-sided differences of step h > d on its side.
    double one_sided = std::min(std::abs(a - (lp - l0) / eps), std::abs(a - (l0 - lm) / eps));
    for (const double h : {eps / 10, eps / 100}) {
      param[i] = saved + h;
      const double lph = loss();
      param[i] = saved - h;
      const double lmh = loss();
      param[i] = saved;
      if ((resolved = std::abs(a - (lph - lmh) / (2 * h)) <= atol + rtol * scale)) break;
      one_sided = std::min(one_sided, std::min(std::abs(a - (lph - l0) / h), std::abs(a - (l0 - lmh) / h)));
    }
    if (resolved) continue;
    if (rtol_one_sided > 0) {
      const double forward = (lp - l0) / eps, backward = (l0 - lm) / eps;
      INFO(what << "[" << i << "]: analytic " << a << " central " << central << " forward " << forward
                << " backward " << backward << " (best one-sided at eps, eps/10, eps/100: off by " << one_sided << ")");
      CHECK(one_sided <= atol + rtol_one_sided * scale);
    } else {
      INFO(what << "[" << i << "]: analytic " << a << " numeric " << central);
      CHECK(std::abs(a - central) <= atol + rtol * scale);
    }
  }
}

// Gradients written with WriteMode::Accumulate onto tensors filled with `base`: each must equal base
// plus the gradient written with WriteMode::Overwrite (pairs: {accumulated, overwritten}).
inline void require_accumulated(const std::vector<std::pair<const Tensor<double, Cpu>*, const Tensor<double, Cpu>*>>& pairs,
                                double base) {
  for (const auto& pr : pairs)
    for (int64_t i = 0; i < pr.first->numel(); ++i)
      REQUIRE((*pr.first)[i] == Approx((*pr.second)[i] + base).epsilon(1e-13).margin(1e-13));
}

// write(out, mode) writes ref's values into out (WriteMode::Overwrite) or adds them to it
// (Accumulate): both checked against ref within rtol/atol (require_close), on random contents of out.
template <class T, class U, class F>
void require_write_modes(const Tensor<U, Cpu>& ref, double rtol, double atol, Rng& rng, F&& write,
                         const std::string& what) {
  auto out = random_tensor<T>(ref.shape(), rng);
  write(out, WriteMode::Overwrite);
  require_close(out, ref, rtol, atol, what);
  auto acc = random_tensor<T>(ref.shape(), rng);
  Tensor<double, Cpu> expected(ref.shape());
  for (int64_t i = 0; i < ref.numel(); ++i) expected[i] = static_cast<double>(acc[i]) + static_cast<double>(ref[i]);
  write(acc, WriteMode::Accumulate);
  require_close(acc, expected, rtol, atol, what + " accumulated");
}

// Random input, incoming gradient and output gradient of shape s as channel views (offsets 3, 1 and
// 2) into larger tensors, for the "strided views match the contiguous case" tests.
template <class T>
struct ChannelViews {
  Tensor<T, Cpu> xbig, gbig, dbig;
  Tensor<T, Cpu> x, g, d;
  ChannelViews(const Shape& s, Rng& rng)
      : xbig(random_tensor<T>(Shape{s.n(), s.c() + 3, s.h(), s.w()}, rng)),
        gbig(random_tensor<T>(Shape{s.n(), s.c() + 1, s.h(), s.w()}, rng)),
        dbig(random_tensor<T>(Shape{s.n(), s.c() + 2, s.h(), s.w()}, rng)),
        x(xbig.channels(3, s.c())),
        g(gbig.channels(1, s.c())),
        d(dbig.channels(2, s.c())) {}
};

// sum(w * t) for a fixed random weighting w: a scalar loss whose gradient w.r.t. t is w.
template <class T>
double weighted_sum(const Tensor<T, Cpu>& t, const Tensor<T, Cpu>& w) {
  double s = 0;
  for (int64_t n = 0; n < (t.shape().rank() == 4 ? t.shape().n() : 1); ++n) {
    const int64_t len = t.shape().rank() == 4 ? t.sample_numel() : t.numel();
    const T* a = t.shape().rank() == 4 ? t.sample(n) : t.data();
    const T* b = w.shape().rank() == 4 ? w.sample(n) : w.data();
    for (int64_t i = 0; i < len; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  }
  return s;
}

}  // namespace srmds::test
