// Parameter containers shared by the SRFV block forms and the network: a parameter with its
// gradient, a BatchNorm's parameters and statistics, host <-> device conversion through double,
// and the SPEC §5 initialisers (PyTorch's defaults for nn.Conv2d and nn.BatchNorm2d):
//   every conv weight  kaiming_uniform(a = sqrt(5)): U(-b, b), b = gain sqrt(3 / fan_in) with
//                      gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), so b = 1 / sqrt(fan_in), fan_in = Cin kh kw
//                      (branches, SE fc1/fc2, heads, fused blocks)
//   every conv bias    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in of its weight
//   BN                 gamma 1, beta 0, running_mean 0, running_var 1
#pragma once

#include <cmath>
#include <string>

#include "srmds/blocks/reparam.hpp"
#include "srmds/core/named_tensor.hpp"
#include "srmds/core/rng.hpp"
#include "srmds/ops/tensor_ops.hpp"

namespace srmds {

// A host tensor of doubles as a tensor of T on the context's device.
template <class T, class D>
Tensor<T, D> device_from_double(Context<D>& ctx, const Tensor<double, Cpu>& h) {
  Tensor<T, Cpu> ht(h.shape());
  for (int64_t i = 0; i < h.numel(); ++i) ht[i] = static_cast<T>(h[i]);
  return from_host(ctx, ht);
}

// A device tensor as a contiguous host tensor of doubles.
template <class T, class D>
Tensor<double, Cpu> double_from_device(Context<D>& ctx, const Tensor<T, D>& t) {
  const Tensor<T, Cpu> ht = to_host(ctx, t);
  Tensor<double, Cpu> h(ht.shape());
  for (int64_t i = 0; i < h.numel(); ++i) h[i] = static_cast<double>(ht[i]);
  return h;
}

// A device copy of t (same shape, contiguous).
template <class T, class D>
Tensor<T, D> clone_tensor(Context<D>& ctx, const Tensor<T, D>& t) {
  Tensor<T, D> c(t.shape(), ctx);
  if (!t.empty()) copy(ctx, t, c);
  return c;
}

// A tensor filled with `value`.
template <class T, class D>
Tensor<T, D> filled_tensor(Context<D>& ctx, const Shape& shape, T value) {
  Tensor<T, D> t(shape, ctx);
  if (t.numel() > 0) fill(ctx, t, value);
  return t;
}

namespace init {
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of shape s (a conv bias: fan_in of its weight).
inline Tensor<double, Cpu> uniform_fan_in(const Shape& s, double fan_in, Rng& rng) {
  const double bound = 1.0 / std::sqrt(fan_in);
  Tensor<double, Cpu> h(s);
  for (int64_t i = 0; i < h.numel(); ++i) h[i] = rng.uniform(-bound, bound);
  return h;
}
// A conv weight (Cout, Cin, kh, kw) as PyTorch initialises it: fan_in = Cin kh kw.
inline Tensor<double, Cpu> conv_weight(const Shape& s, Rng& rng) {
  const double fan_in = static_cast<double>(s.numel() / (s[0] ? s[0] : 1));
  return uniform_fan_in(s, fan_in > 0 ? fan_in : 1.0, rng);
}
}  // namespace init

// A trainable tensor and its gradient (same shape; the gradient starts at zero).
template <class T, class D>
struct Param {
  Tensor<T, D> value;
  Tensor<T, D> grad;

  Param() = default;
  Param(Context<D>& ctx, const Tensor<double, Cpu>& initial)
      : value(device_from_double<T>(ctx, initial)), grad(filled_tensor<T>(ctx, initial.shape(), T(0))) {}

  void append(const std::string& name, StateList<T, D>& out) { out.push_back({name, &value, &grad}); }
  void zero_grad(Context<D>& ctx) {
    if (grad.numel() > 0) fill(ctx, grad, T(0));
  }
};

// BatchNorm2d: gamma, beta (parameters), running statistics (buffers), and the batch mean and
// invstd saved by the last training-mode forward.
template <class T, class D>
struct BnParams {
  static constexpr double kEps = 1e-5;
  static constexpr double kMomentum = 0.1;

  Param<T, D> gamma, beta;
  Tensor<T, D> running_mean, running_var;
  Tensor<T, D> save_mean, save_invstd;

  BnParams() = default;
  BnParams(Context<D>& ctx, int64_t channels)
      : gamma(ctx, filled_host(channels, 1.0)),
        beta(ctx, filled_host(channels, 0.0)),
        running_mean(filled_tensor<T>(ctx, Shape{channels}, T(0))),
        running_var(filled_tensor<T>(ctx, Shape{channels}, T(1))),
        save_mean(filled_tensor<T>(ctx, Shape{channels}, T(0))),
        save_invstd(filled_tensor<T>(ctx, Shape{channels}, T(1))) {}

  int64_t channels() const { return gamma.value.numel(); }

  // PyTorch order: weight, bias, running_mean, running_var.
  void append(const std::string& prefix, StateList<T, D>& out) {
    gamma.append(prefix + "weight", out);
    beta.append(prefix + "bias", out);
    out.push_back({prefix + "running_mean", &running_mean, nullptr});
    out.push_back({prefix + "running_var", &running_var, nullptr});
  }

  reparam::BnStats stats(Context<D>& ctx) const {
    return reparam::BnStats{double_from_device(ctx, gamma.value), double_from_device(ctx, beta.value),
                            double_from_device(ctx, running_mean), double_from_device(ctx, running_var), kEps};
  }

private:
  static Tensor<double, Cpu> filled_host(int64_t c, double v) {
    Tensor<double, Cpu> h(Shape{c});
    for (int64_t i = 0; i < c; ++i) h[i] = v;
    return h;
  }
};

}  // namespace srmds
