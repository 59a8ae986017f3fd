// One table of cases per attention-like op (SE, CBAM, SGE, PSA) and the CPU checks every case runs
// (ggml's test-backend-ops: the op is described once, the checks are shared):
//   forward   y and the saved tensors against the op's naive loop, float and double, contiguous and
//             on strided channel views, |a - b| <= tol + tol |ref| (require_close); in place where
//             the op allows it (bit for bit the out-of-place y);
//   gradients in double: dx and every parameter's gradient against central differences
//             (check_gradient_report), gradients that are zero up to rounding held to a bound scaled
//             by the op's other gradients; every pairing of dx and parameter write modes against the
//             Overwrite result (Accumulate adds it onto what was there, Overwrite replaces it);
//   views     backward on strided channel views of x, dy and dx equals the contiguous backward, in
//             both write modes, and leaves the channels around the dx view alone (float and double).
//
// An op comes as an adapter, a class template Op<T> (T float or double):
//   static constexpr const char* kName;        "se": names the cases and the gradients
//   static constexpr const char* kSize;        what OpCase::size is ("hidden", "groups"), or nullptr
//   static constexpr bool kInPlace;            forward may write y over x
//   static OpChecks checks();                  tolerances and finite-difference settings
//   Op(const OpCase& k, Rng& rng);             random parameters for case k
//   std::vector<std::string> param_names() const;   weight names (state_dict), in params() order
//   std::vector<Tensor<T>*> params();          the parameters (the difference check moves them)
//   void forward(Context<Cpu>&, const Tensor<T>& x, Tensor<T>& y);   keeps what backward needs
//   void backward(Context<Cpu>&, const Tensor<T>& x, const Tensor<T>& dy, Tensor<T>& dx, WriteMode,
//                 const std::vector<Tensor<T>*>& grads, WriteMode);  of the latest forward
//   OpReference<T> reference(const Tensor<T>& x) const;   the naive loop on contiguous x (in double),
//                 and the saved tensors of the latest forward to hold against it
// An op's test declares the adapter and its table (std::vector<OpCase>), then registers the checks
// with SRMDS_OP_CASE_TESTS(Op, "name", table); the precisions, views and write modes are crossed
// here. The naive loops stay with each op's test: they are its independent reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "srmds/core/context.hpp"
#include "support/fd_report.hpp"
#include "support/testing.hpp"

namespace srmds::test {

// One row of an op's table: the input shape and the op's size option (Op::kSize).
struct OpCase {
  Shape x;           // (N, C, H, W)
  int64_t size = 0;  // SE and CBAM: hidden width; SGE: groups; PSA: unused
};

// How an op's cases are held (defaults: the common values of the attention ops).
struct OpChecks {
  double forward_float = 2e-5, forward_double = 1e-12;  // y and saved tensors against the naive loop
  double views_float = 2e-5, views_double = 1e-13;      // backward on views against the contiguous one
  int fd_points = 48;                                   // entries checked per tensor
  double fd_eps = 1e-5;                                 // central-difference step
  double fd_kink = 0;  // > 0: max or ReLU kinks; check_gradient's one-sided fallback tolerance
  // Parameter gradients that are zero up to rounding for input shape x (a difference sees only the
  // loss's rounding there): held to 1e-12 times the op's largest parameter gradient instead.
  bool (*grad_is_zero)(const std::string& param, const Shape& x) = nullptr;
};

// A saved tensor of the latest forward and its value from the naive loop.
template <class T>
struct SavedReference {
  std::string name;              // "saved.mean"
  const Tensor<T, Cpu>* saved;   // the op's
  Tensor<double, Cpu> expected;  // the naive loop's
  double tol_scale = 1;          // times the forward tolerance
};

template <class T>
struct OpReference {
  Tensor<double, Cpu> y;  // (N, C, H, W)
  std::vector<SavedReference<T>> saved;
};

namespace detail {

template <class T>
const char* precision_name() {
  return std::is_same_v<T, float> ? "float" : "double";
}

inline const char* mode_name(WriteMode m) { return m == WriteMode::Overwrite ? "overwrite" : "accumulate"; }

// "x [2, 5, 3, 4] hidden 4"
template <template <class> class Op, class T>
std::string case_shape(const OpCase& k) {
  std::ostringstream os;
  os << "x " << k.x;
  if (Op<T>::kSize) os << " " << Op<T>::kSize << " " << k.size;
  return os.str();
}

// "se x [2, 5, 3, 4] hidden 4 float contiguous"
template <template <class> class Op, class T>
std::string case_label(const OpCase& k, const char* how) {
  return std::string(Op<T>::kName) + " " + case_shape<Op, T>(k) + " " + precision_name<T>() + " " + how;
}

template <class T>
std::vector<Tensor<T, Cpu>> zeros_like(const std::vector<Tensor<T, Cpu>*>& ts) {
  std::vector<Tensor<T, Cpu>> out;
  for (const auto* t : ts) out.emplace_back(t->shape());
  return out;
}

template <class T>
std::vector<Tensor<T, Cpu>*> pointers(std::vector<Tensor<T, Cpu>>& ts) {
  std::vector<Tensor<T, Cpu>*> out;
  for (auto& t : ts) out.push_back(&t);
  return out;
}

template <class T>
void fill_all(std::vector<Tensor<T, Cpu>>& ts, double v) {
  for (auto& t : ts)
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(v);
}

template <class T, class U>
Tensor<double, Cpu> sum(const Tensor<T, Cpu>& a, const Tensor<U, Cpu>& b) {
  Tensor<double, Cpu> s(a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) s[i] = static_cast<double>(a[i]) + static_cast<double>(b[i]);
  return s;
}

// The forward check of one case, contiguous or on strided channel views of x and y.
template <template <class> class Op, class T>
void check_forward_case(Context<Cpu>& ctx, const OpCase& k, bool views, Rng& rng) {
  const Shape& s = k.x;
  const OpChecks c = Op<T>::checks();
  const double tol = std::is_same_v<T, float> ? c.forward_float : c.forward_double;
  Op<T> op(k, rng);
  auto xbig = random_tensor<T>(Shape{s.n(), s.c() + 2, s.h(), s.w()}, rng, -1.0, 2.0);
  auto ybig = random_tensor<T>(Shape{s.n(), s.c() + 3, s.h(), s.w()}, rng);
  Tensor<T> xo = random_tensor<T>(s, rng, -1.0, 2.0), yo(s);
  Tensor<T> x = views ? xbig.channels(2, s.c()) : xo.view();
  Tensor<T> y = views ? ybig.channels(1, s.c()) : yo.view();
  op.forward(ctx, x, y);
  const Tensor<T> xc = contiguous(x), yc = contiguous(y);
  const OpReference<T> ref = op.reference(xc);
  require_close(yc, ref.y, tol, tol, "y");
  for (const auto& r : ref.saved) require_close(*r.saved, r.expected, r.tol_scale * tol, r.tol_scale * tol, r.name);
  if constexpr (Op<T>::kInPlace) {
    const Tensor<T> before = contiguous(xbig);
    op.forward(ctx, x, x);  // over x itself: a view into xbig or the contiguous xo
    require_close(contiguous(x), yc, 0.0, 0.0, "y in place");
    if (views)  // the channels before the view (its offset is 2 of C + 2) are left alone
      for (int64_t n = 0; n < s.n(); ++n)
        for (int64_t ch = 0; ch < 2; ++ch)
          for (int64_t h = 0; h < s.h(); ++h)
            for (int64_t w = 0; w < s.w(); ++w) REQUIRE(xbig.at(n, ch, h, w) == before.at(n, ch, h, w));
  }
}

}  // namespace detail

// Forward against the naive loop for every case, contiguous and on strided views (and in place).
template <template <class> class Op, class T>
void check_op_forward(const std::vector<OpCase>& cases) {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  for (const OpCase& k : cases)
    for (bool views : {false, true}) {
      INFO((detail::case_label<Op, T>(k, views ? "strided views" : "contiguous")));
      detail::check_forward_case<Op, T>(ctx, k, views, rng);
    }
}

// Backward in double for every case: each pairing of write modes against Overwrite, then dx and
// every parameter's gradient against central differences of sum(w * op(x)).
template <template <class> class Op>
void check_op_gradients(const std::vector<OpCase>& cases) {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const OpChecks c = Op<double>::checks();
  for (const OpCase& k : cases) {
    const std::string label = detail::case_label<Op, double>(k, "gradients");
    INFO(label);
    const Shape& s = k.x;
    auto x = random_tensor<double>(s, rng, -1.0, 2.0);
    Op<double> op(k, rng);
    auto w = random_tensor<double>(s, rng);
    const std::vector<Tensor<double>*> params = op.params();
    const std::vector<std::string> names = op.param_names();
    REQUIRE(names.size() == params.size());
    Tensor<double> y(s), dx(s);
    auto g = detail::zeros_like(params);
    op.forward(ctx, x, y);
    op.backward(ctx, x, w, dx, WriteMode::Overwrite, detail::pointers(g), WriteMode::Overwrite);

    // Write modes, onto gradients filled with 0.25 (before the difference check moves the forward).
    using Modes = std::pair<WriteMode, WriteMode>;  // dx, parameters
    const WriteMode acc = WriteMode::Accumulate, over = WriteMode::Overwrite;
    for (const auto& [dx_mode, param_mode] : {Modes{acc, acc}, Modes{acc, over}, Modes{over, acc}}) {
      INFO("dx " << detail::mode_name(dx_mode) << ", parameters " << detail::mode_name(param_mode));
      Tensor<double> gx(s);
      auto ga = detail::zeros_like(params);
      for (int64_t i = 0; i < gx.numel(); ++i) gx[i] = 0.25;
      detail::fill_all(ga, 0.25);
      op.backward(ctx, x, w, gx, dx_mode, detail::pointers(ga), param_mode);
      require_accumulated({{&gx, &dx}}, dx_mode == WriteMode::Accumulate ? 0.25 : 0.0);
      for (size_t i = 0; i < params.size(); ++i) {
        INFO(names[i]);
        require_accumulated({{&ga[i], &g[i]}}, param_mode == WriteMode::Accumulate ? 0.25 : 0.0);
      }
    }

    auto loss = [&] {
      Tensor<double> yy(s);
      op.forward(ctx, x, yy);
      return weighted_sum(yy, w);
    };
    const std::string name = Op<double>::kName, where = " " + detail::case_shape<Op, double>(k);
    check_gradient_report(x, dx, loss, name + " dx" + where, rng, c.fd_points, c.fd_eps, 1e-6, 1e-8, c.fd_kink);
    double op_scale = 0;  // the largest parameter gradient
    for (const auto& t : g)
      for (int64_t i = 0; i < t.numel(); ++i) op_scale = std::max(op_scale, std::abs(t[i]));
    for (size_t i = 0; i < params.size(); ++i) {
      if (c.grad_is_zero && c.grad_is_zero(names[i], s)) {
        // zero up to rounding: the rule of the CUDA parity test (tests/cuda/parity.hpp) at double's precision
        for (int64_t j = 0; j < g[i].numel(); ++j) {
          INFO(names[i] << "[" << j << "] = " << g[i][j] << ", op scale " << op_scale);
          REQUIRE(std::abs(g[i][j]) <= 1e-12 * op_scale);
        }
        continue;
      }
      check_gradient_report(*params[i], g[i], loss, name + " " + names[i] + where, rng, c.fd_points, c.fd_eps, 1e-6,
                            1e-8, c.fd_kink);
    }
  }
}

// Backward on strided channel views (x, dy and dx; ChannelViews) against the contiguous backward,
// accumulating onto the view's contents and then overwriting them, for every case.
template <template <class> class Op, class T>
void check_op_views(const std::vector<OpCase>& cases) {
  Context<Cpu> ctx;
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  Rng rng(seed);
  const OpChecks c = Op<T>::checks();
  const double tol = std::is_same_v<T, float> ? c.views_float : c.views_double;
  for (const OpCase& k : cases) {
    INFO((detail::case_label<Op, T>(k, "backward on strided views")));
    const Shape& s = k.x;
    Op<T> op(k, rng);
    ChannelViews<T> v(s, rng);
    const std::vector<Tensor<T>*> params = op.params();
    const std::vector<std::string> names = op.param_names();
    Tensor<T> y(s), dx(s);
    op.forward(ctx, v.x, y);
    auto g = detail::zeros_like(params);
    op.backward(ctx, contiguous(v.x), contiguous(v.g), dx, WriteMode::Overwrite, detail::pointers(g),
                WriteMode::Overwrite);

    const Tensor<T> dbig0 = contiguous(v.dbig), d0 = contiguous(v.d);
    std::vector<Tensor<T>> ga;
    for (const auto* p : params) ga.push_back(random_tensor<T>(p->shape(), rng));
    std::vector<Tensor<T>> ga0;
    for (const auto& t : ga) ga0.push_back(contiguous(t));
    op.backward(ctx, v.x, v.g, v.d, WriteMode::Accumulate, detail::pointers(ga), WriteMode::Accumulate);
    require_close(contiguous(v.d), detail::sum(d0, dx), tol, tol, "dx view accumulated");
    for (size_t i = 0; i < params.size(); ++i)
      require_close(ga[i], detail::sum(ga0[i], g[i]), tol, tol, "d " + names[i] + " accumulated");

    op.backward(ctx, v.x, v.g, v.d, WriteMode::Overwrite, detail::pointers(ga), WriteMode::Overwrite);
    require_close(contiguous(v.d), dx, tol, tol, "dx view");
    for (size_t i = 0; i < params.size(); ++i) require_close(ga[i], g[i], tol, tol, "d " + names[i] + " view");
    // the channels around the dx view (2 before, none after) are left alone
    for (int64_t n = 0; n < s.n(); ++n)
      for (int64_t ch = 0; ch < 2; ++ch)
        for (int64_t h = 0; h < s.h(); ++h)
          for (int64_t w = 0; w < s.w(); ++w) REQUIRE(v.dbig.at(n, ch, h, w) == dbig0.at(n, ch, h, w));
  }
}

}  // namespace srmds::test

namespace srmds::test::detail {

constexpr bool same_name(const char* a, const char* b) { return *a == *b && (*a == '\0' || same_name(a + 1, b + 1)); }

}  // namespace srmds::test::detail

// An op's table as its three Catch test cases, tagged [ops][<name>] (name: Op's kName, a literal):
// forward against the naive loop (float, double), gradients (double), backward on strided views
// (float, double). The output names each case (INFO on failure; "FD ..." lines for the gradients).
#define SRMDS_OP_CASE_TESTS(Op, name, cases)                                                                       \
  static_assert(srmds::test::detail::same_name(Op<float>::kName, name), "SRMDS_OP_CASE_TESTS: name is not kName"); \
  TEMPLATE_TEST_CASE(name " forward and saved tensors match the naive loop", "[ops][" name "]", float, double) {   \
    srmds::test::check_op_forward<Op, TestType>(cases);                                                            \
  }                                                                                                                \
  TEST_CASE(name " backward matches finite differences, in every write mode", "[ops][" name "][grad]") {           \
    srmds::test::check_op_gradients<Op>(cases);                                                                    \
  }                                                                                                                \
  TEMPLATE_TEST_CASE(name " backward on strided views matches the contiguous one", "[ops][" name "][grad]", float, \
                     double) {                                                                                     \
    srmds::test::check_op_views<Op, TestType>(cases);                                                              \
  }
